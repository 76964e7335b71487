import { createHash } from "node:crypto";
import type { ContainerState, QueuedContainer } from "./container.js";

/**
 * The queue index (lib/store/queue-index.ts keeps it): a compact copy of what update-queue last
 * wrote for each cached container, its state and a fingerprint of its cached fields. A steady
 * update reads it instead of scanning the table and compares each polled record's fingerprint
 * with the index's, so its reads grow with change, not with the table.
 */

/** One container as the index knows it. */
export interface IndexRecord {
  state: ContainerState;
  /** fingerprint() of the cached container fields; "" when unknown (the next update rewrites the entry). */
  fingerprint: string;
}

/** uuid → what update-queue last wrote. */
export type QueueIndex = Map<string, IndexRecord>;

/** The index as read: its records and each shard's packed body (to write only shards that change). */
export interface IndexSnapshot {
  index: QueueIndex;
  shards: number;
  bodies: string[];
}

/** The queue index as the Queue uses it (lib/store's QueueIndexStore). */
export interface QueueIndexPort {
  /** The whole index, read consistently; undefined if a shard is missing (then scan and rebuild). */
  read(shards: number): Promise<IndexSnapshot | undefined>;
  /** Writes the index (only shards that changed); the shard count to mark whole, or undefined. */
  write(index: QueueIndex, previous: IndexSnapshot | undefined, stamp: string): Promise<number | undefined>;
  /** Marks the index whole with `shards` shards, or not whole (undefined); false if `owner` lost the update lease. */
  mark(owner: string, shards: number | undefined): Promise<boolean>;
}

const fingerprintLength = 11;

/** Canonical JSON: sorted keys, undefined dropped, bigints as digits (a DynamoDB round trip keeps all three). */
function canonical(value: unknown): string {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(record[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * The layout of an entry's item the fingerprint stands for: a new one makes every fingerprint
 * differ once, so the first update after an upgrade rewrites every entry in it (2: entries carry
 * the `active` mark of the live-entries index).
 */
const itemLayout = "2";

/** A 66-bit digest of the container fields the cache keeps: equal records, equal fingerprints. */
export function fingerprint(container: QueuedContainer): string {
  return createHash("sha256")
    .update(`${itemLayout}:${canonical(container)}`)
    .digest("base64url")
    .slice(0, fingerprintLength);
}
