import { isDeepStrictEqual } from "node:util";
import { parseArvadosJson, stringifyArvadosJson } from "../model/exact-json.js";
import type { QueuedContainer } from "../model/container.js";
import type { PollResult } from "./poll.js";
import type { QueueEntry } from "../model/entry.js";

/**
 * The writes one update needs to bring the table in line with a poll (§1.5 steps 3–4): new
 * containers to insert, changed ones to replace, absent or deleted ones to remove. Unchanged
 * entries get no write at all, so a steady queue costs nothing.
 */
export interface WritePlan {
  insert: QueuedContainer[];
  replace: QueuedContainer[];
  remove: string[];
}

/** Whether two cached records differ in any field the cache keeps. */
export function containerChanged(cached: QueuedContainer, next: QueuedContainer): boolean {
  return !isDeepStrictEqual(normalise(cached), normalise(next));
}

// DynamoDB returns maps with their own key order and drops undefined: compare on plain JSON
// (the exact codec: a priority is a bigint, §5.6).
function normalise(container: QueuedContainer): unknown {
  return parseArvadosJson(stringifyArvadosJson(container));
}

/** Computes the writes for a poll against the cached entries. Pure. */
export function planWrites(cached: ReadonlyMap<string, QueueEntry>, poll: PollResult): WritePlan {
  const plan: WritePlan = { insert: [], replace: [], remove: [] };
  for (const [uuid, container] of poll.next) {
    const entry = cached.get(uuid);
    if (entry === undefined) plan.insert.push(container);
    else if (containerChanged(entry.container, container)) plan.replace.push(container);
  }
  for (const uuid of cached.keys()) {
    if (!poll.next.has(uuid)) plan.remove.push(uuid);
  }
  return plan;
}

/** Like Promise.all, but settles every promise before throwing the first rejection. */
export async function settleAll<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(promises);
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (rejected !== undefined) throw rejected.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
