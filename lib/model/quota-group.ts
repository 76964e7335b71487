import type { InstanceType } from "./instance-type.js";

/**
 * The EC2 quota group of an instance type (§4.3 `InstanceQuotaGroup`, a port of upstream's
 * loop in lib/cloud/ec2/ec2.go). Capacity errors that EC2 reports per vCPU quota
 * (VcpuLimitExceeded) apply to the whole group.
 *
 * Walking the lower-cased ProviderType: at the first character that is not a lower-case
 * letter, the group becomes the prefix before it (the alphabetic prefix); from then on, every
 * prefix ending just before the current character that `quotaGroups` maps to a non-empty name
 * overrides it, so the longest such prefix wins. Consequences of the port, kept for parity:
 * a prefix is never looked up before the alphabetic prefix is known (`trn1.x` uses `trn` or
 * `trn1`, never `t`); the whole ProviderType is never looked up; a ProviderType of lower-case
 * letters only has group ""; and "-spot" is appended for every preemptible type, even to "".
 */
export function instanceQuotaGroup(
  it: Pick<InstanceType, "ProviderType" | "Preemptible">,
  quotaGroups: Readonly<Record<string, string>>,
): string {
  const providerType = it.ProviderType.toLowerCase();
  let group = "";
  let prefix = "";
  for (const c of providerType) {
    if (!/^\p{Ll}$/u.test(c) && group === "") group = prefix;
    const configured = Object.hasOwn(quotaGroups, prefix) ? quotaGroups[prefix] : undefined;
    if (configured !== undefined && configured !== "" && group !== "") group = configured;
    prefix += c;
  }
  return it.Preemptible ? `${group}-spot` : group;
}
