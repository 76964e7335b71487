import type { ContainerState } from "../model/container.js";
import type { QueueEntry } from "../model/entry.js";
import { fingerprint, type IndexSnapshot, type QueueIndex } from "../model/queue-index.js";
import type { PollResult } from "./poll.js";
import type { WritePlan } from "./write-plan.js";

/**
 * What an update knows of the cache before it writes: each cached uuid's state and fingerprint,
 * from the queue index (a steady update) or from a scan (no index yet, or a Queue without one),
 * in which case the whole entries are there too.
 */
export interface CacheView {
  index: QueueIndex;
  /** The whole entries, when the update scanned the table. */
  entries?: Map<string, QueueEntry>;
  /** The index as read, when the update read it (undefined: it scanned, and rebuilds the index). */
  snapshot?: IndexSnapshot;
  /** Scanned live entries without the `active` mark (written before it existed): to rewrite. */
  unmarked?: ReadonlySet<string>;
}

/** The view of scanned entries. */
export function viewOfEntries(entries: Map<string, QueueEntry>): CacheView {
  const index: QueueIndex = new Map();
  for (const [uuid, entry] of entries)
    index.set(uuid, { state: entry.container.state, fingerprint: fingerprint(entry.container) });
  return { index, entries };
}

/** The cached states pollMissing needs. */
export function cachedStates(view: CacheView): Map<string, ContainerState> {
  return new Map([...view.index].map(([uuid, record]) => [uuid, record.state] as const));
}

/**
 * planWrites against the index: insert what it lacks, replace what it holds with another
 * fingerprint, remove what the poll no longer returns. Pure.
 */
export function planWritesFromIndex(index: QueueIndex, poll: PollResult): WritePlan {
  const plan: WritePlan = { insert: [], replace: [], remove: [] };
  for (const [uuid, container] of poll.next) {
    const record = index.get(uuid);
    if (record === undefined) plan.insert.push(container);
    else if (record.fingerprint !== fingerprint(container)) plan.replace.push(container);
  }
  for (const uuid of index.keys()) if (!poll.next.has(uuid)) plan.remove.push(uuid);
  return plan;
}
