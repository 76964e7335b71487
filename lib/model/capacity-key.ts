import type { InstanceType } from "./instance-type.js";
import { instanceQuotaGroup } from "./quota-group.js";
import type { CapacityScope } from "./cloud-errors.js";

type CapacityKeyType = Pick<InstanceType, "ProviderType" | "Preemptible">;

/**
 * The §4.1 `atCapacityUntil` key a capacity error of `scope` sets for instance type `it`:
 * `ProviderType` (+ "-preemptible") for a type-specific error, `instanceQuotaGroup(it)` for a
 * quota-group error, "" for every type.
 */
export function capacityKey(
  it: CapacityKeyType,
  scope: CapacityScope,
  quotaGroups: Readonly<Record<string, string>>,
): string {
  switch (scope) {
    case "instanceType":
      return it.Preemptible ? `${it.ProviderType}-preemptible` : it.ProviderType;
    case "quotaGroup":
      return instanceQuotaGroup(it, quotaGroups);
    case "all":
      return "";
  }
}

/**
 * Every key whose `atCapacityUntil` must be in the past for `it` to be launchable
 * (§4.1 AtCapacity): all types, its quota group, and the type itself, in that order.
 */
export function capacityKeysFor(it: CapacityKeyType, quotaGroups: Readonly<Record<string, string>>): string[] {
  return [
    capacityKey(it, "all", quotaGroups),
    capacityKey(it, "quotaGroup", quotaGroups),
    capacityKey(it, "instanceType", quotaGroups),
  ];
}
