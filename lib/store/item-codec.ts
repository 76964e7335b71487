import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb";
import type { QueueEntry } from "../queue/types.js";

/**
 * The table's key layout: container entries are keyed by container uuid; meta items by a
 * reserved `#` prefix that no Arvados uuid can start with.
 */
export const metaKey = {
  queue: "#queue",
  capacity: "#capacity",
  launchTokens: "#launch-tokens",
  launchPass: "#launch-pass",
} as const;

export function isMetaKey(uuid: string): boolean {
  return uuid.startsWith("#");
}

export const marshallOptions = { removeUndefinedValues: true, convertClassInstanceToMap: false } as const;

/** Turns an entry into a DynamoDB item (nested maps, so stream filters can see container.state). */
export function entryToItem(entry: QueueEntry): Record<string, AttributeValue> {
  return marshall({ uuid: entry.container.uuid, ...entry }, marshallOptions);
}

/** Turns a DynamoDB item back into an entry; undefined for meta items or items without a container. */
export function itemToEntry(item: Record<string, AttributeValue>): QueueEntry | undefined {
  const plain = unmarshall(item) as Partial<QueueEntry> & { uuid?: string; expiresAt?: number };
  if (plain.uuid === undefined || isMetaKey(plain.uuid) || plain.container === undefined) return undefined;
  const { uuid: _uuid, expiresAt: _expiresAt, launchLease: _lease, ...entry } = plain as typeof plain & { launchLease?: unknown };
  return entry as QueueEntry;
}

export function toAttr(value: unknown): AttributeValue {
  return marshall({ v: value }, marshallOptions).v as AttributeValue;
}
