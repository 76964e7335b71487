import type { QueueEntry } from "../model/entry.js";

/** The InstanceType dimension for an entry with no chosen type yet (upstream would panic, §1.10). */
export const noInstanceType = "none";

/** One point of the QueueEntries metric. */
export interface EntryCount {
  state: string;
  instanceType: string;
  count: number;
}

/**
 * §1.10: queue entries counted by state and cheapest eligible type. Entries without types count
 * under `none` instead of crashing, unlike upstream's `InstanceTypes[0]`.
 */
export function countEntriesByStateAndType(
  entries: Iterable<Pick<QueueEntry, "instanceTypes"> & { container: Pick<QueueEntry["container"], "state"> }>,
): EntryCount[] {
  const counts = new Map<string, EntryCount>();
  for (const entry of entries) {
    const state = entry.container.state;
    const instanceType = entry.instanceTypes?.[0] || noInstanceType;
    const key = `${state}\u0000${instanceType}`;
    const point = counts.get(key) ?? { state, instanceType, count: 0 };
    point.count++;
    counts.set(key, point);
  }
  return [...counts.values()].sort(
    (a, b) => a.state.localeCompare(b.state) || a.instanceType.localeCompare(b.instanceType),
  );
}
