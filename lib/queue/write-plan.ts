import { isDeepStrictEqual } from "node:util";
import type { QueuedContainer } from "../arvados/types.js";
import type { PollResult } from "./poll.js";
import type { QueueEntry } from "./types.js";

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

// DynamoDB returns maps with their own key order and drops undefined: compare on plain JSON.
function normalise(container: QueuedContainer): unknown {
  return JSON.parse(JSON.stringify(container));
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

/** Runs tasks with at most `limit` in flight; resolves with their results in order. */
export async function runBounded<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let nextIndex = 0;
  const worker = async () => {
    while (nextIndex < tasks.length) {
      const index = nextIndex++;
      const task = tasks[index];
      if (task !== undefined) results[index] = await task();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}
