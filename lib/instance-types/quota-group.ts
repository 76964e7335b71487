import type { InstanceType } from "../config/types.js";

/**
 * The EC2 quota group of an instance type (§4.3 `InstanceQuotaGroup`): the alphabetic prefix of
 * the lower-cased provider type, overridden by the longest configured prefix at least that long,
 * with "-spot" appended for preemptible types. Capacity errors that EC2 reports per vCPU quota
 * (VcpuLimitExceeded) apply to the whole group.
 */
export function instanceQuotaGroup(
  it: Pick<InstanceType, "ProviderType" | "Preemptible">,
  quotaGroups: Readonly<Record<string, string>>,
): string {
  const providerType = it.ProviderType.toLowerCase();
  const alphabetic = /^[a-z]*/.exec(providerType)?.[0] ?? "";
  let group = alphabetic;
  let matchedLength = -1;
  for (const [prefix, name] of Object.entries(quotaGroups)) {
    const p = prefix.toLowerCase();
    if (p.length >= alphabetic.length && p.length > matchedLength && providerType.startsWith(p)) {
      group = name;
      matchedLength = p.length;
    }
  }
  if (group !== "" && it.Preemptible) group += "-spot";
  return group;
}
