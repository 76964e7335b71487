import { isFinalState } from "../model/container.js";
import type { QueueEntry } from "../model/entry.js";
import type { LiveEntriesDeps } from "./ports.js";

/**
 * How long the entries a pass wrote are read consistently by the passes after it: far longer
 * than DynamoDB takes to bring a global secondary index up to date (asynchronous, normally well
 * under a second), short enough that the list stays small (EC2 lets a pass launch 2 a second).
 */
export const recentWritesMs = 120_000;

/**
 * `fresher` over `indexed`, entry by entry, by version (every entry write but a scheduling
 * status's bumps it): a stream image older than the index's copy (a late batch) changes nothing,
 * and a newer one of a finished container drops it. Pure.
 */
export function mergeFresher(
  indexed: ReadonlyMap<string, QueueEntry>,
  fresher: readonly QueueEntry[],
): Map<string, QueueEntry> {
  const entries = new Map(indexed);
  for (const entry of fresher) {
    const uuid = entry.container.uuid;
    const known = entries.get(uuid);
    if (known !== undefined && known.version >= entry.version) continue;
    if (isFinalState(entry.container.state)) entries.delete(uuid);
    else entries.set(uuid, entry);
  }
  return entries;
}

/** The recent writes still within `recentWritesMs` of `nowMs`. Pure. */
export function keepRecent(recent: Record<string, number>, nowMs: number): Record<string, number> {
  return Object.fromEntries(Object.entries(recent).filter(([, at]) => nowMs - at < recentWritesMs));
}

/**
 * The entries a launch pass plans from, without scanning the table: the `active` index (live
 * entries only; eventually consistent), the stream images that woke the pass, and consistent
 * copies of what passes wrote in the last `recentWritesMs`. How a stale index copy is handled:
 * - an entry this or an earlier pass locked, launched or gave an intent is read consistently,
 *   so in-flight instances count exactly against MaxInstances and the quota;
 * - an entry another function changed (a new one, its types, Running, an unlock) is at worst
 *   older by the index's lag: the stream record of that change starts a pass that carries the
 *   new image, and every write a pass makes is conditional on the item itself (the claim,
 *   writeLaunchIntent, recordLaunch) or refused by Arvados (a lock), so an older copy can cost a
 *   wasted call, never a second instance;
 * - a scheduling status compared with an older copy may be written again or, rarely, left as it
 *   was until the next plan that changes it (it is advisory, for the dispatch API).
 * Returns the entries and the recent writes still kept (the pass adds its own and keeps them
 * when it releases its lease).
 */
export async function readLiveEntries(
  live: LiveEntriesDeps,
  nowMs: number,
): Promise<{ entries: Map<string, QueueEntry>; recent: Record<string, number> }> {
  const [indexed, stored] = await Promise.all([live.entries.query(), live.writes.recent()]);
  const recent = keepRecent(stored, nowMs);
  const entries = mergeFresher(indexed, live.fresher);
  const uuids = Object.keys(recent);
  const exact = uuids.length === 0 ? new Map<string, QueueEntry>() : await live.entries.getConsistent(uuids);
  for (const uuid of uuids) {
    const entry = exact.get(uuid);
    if (entry === undefined || isFinalState(entry.container.state)) entries.delete(uuid);
    else entries.set(uuid, entry);
  }
  return { entries, recent };
}
