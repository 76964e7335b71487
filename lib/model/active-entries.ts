import type { QueueEntry } from "./entry.js";

/**
 * The live entries (Queued, Locked, Running) as the queue table's sparse `active` index holds
 * them (lib/store/active-entries.ts): what a launch or cleanup pass reads instead of a scan, so
 * its reads grow with the work, not with finished entries. The index is eventually consistent:
 * an entry written a moment ago may be missing or show an older version. Readers make exact
 * what they act on (lib/launch/live-entries.ts, lib/cleanup/live-entries.ts).
 */
export interface ActiveEntries {
  /** Every entry the index lists: eventually consistent. */
  query(): Promise<Map<string, QueueEntry>>;
  /** Consistent copies of `uuids` (an absent one is missing from the result). */
  getConsistent(uuids: readonly string[]): Promise<Map<string, QueueEntry>>;
}

/**
 * The entries launch passes wrote lately, kept on `#launch-pass` beside the pass lease: a pass
 * reads them consistently, so its own predecessors' locks, intents and launch records count
 * exactly (MaxInstances) even where the index has not caught up yet.
 */
export interface LaunchWrites {
  /** uuid → when a pass last wrote it (epoch ms), read consistently. */
  recent(): Promise<Record<string, number>>;
  /** Gives the pass lease back and keeps `recent` (one write); false if `owner` no longer held it. */
  release(owner: string, recent: Record<string, number>): Promise<boolean>;
}
