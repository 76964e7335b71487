import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb";
import type { QueueEntry } from "../model/entry.js";

/**
 * The table's key layout: container entries are keyed by container uuid; meta items by a
 * reserved `#` prefix that no Arvados uuid can start with.
 */
export const metaKey = {
  queue: "#queue",
  capacity: "#capacity",
  launchTokens: "#launch-tokens",
  launchPass: "#launch-pass",
  /** Stamped to relay a launch wake-up: its stream record starts a pass (lib/store/launch-wake-relay.ts). */
  launchWake: "#launch-wake",
  /** Prefix of the queue index items (lib/store/queue-index.ts). */
  index: "#index",
  /** When cleanup first saw each pool worker idle (lib/store/worker-idle.ts). */
  workers: "#workers",
} as const;

export function isMetaKey(uuid: string): boolean {
  return uuid.startsWith("#");
}

/**
 * `allowImpreciseNumbers`: an int64 size past 2^53 (a value the API server may send) is written
 * as the double's digits rather than refused; priorities are bigints and written exactly.
 */
export const marshallOptions = {
  removeUndefinedValues: true,
  convertClassInstanceToMap: false,
  allowImpreciseNumbers: true,
} as const;

/** Turns an entry into a DynamoDB item (nested maps, so stream filters can see container.state). */
export function entryToItem(entry: QueueEntry): Record<string, AttributeValue> {
  return marshall({ uuid: entry.container.uuid, ...entry }, marshallOptions);
}

/** Turns a DynamoDB item back into an entry; undefined for meta items or items without a container. */
export function itemToEntry(item: Record<string, AttributeValue>): QueueEntry | undefined {
  const raw = unmarshall(item) as { container?: { priority?: unknown } };
  // unmarshall gives numbers past 2^53 as bigint and smaller ones as number: the priority is
  // always a bigint (exact, §5.6), every other number a number.
  const priority = raw.container?.priority;
  const plain = bigintsToNumbers(raw) as Partial<QueueEntry> & { uuid?: string; expiresAt?: number };
  if (plain.uuid === undefined || isMetaKey(plain.uuid) || plain.container === undefined) return undefined;
  plain.container.priority =
    typeof priority === "bigint" ? priority : BigInt(typeof priority === "number" ? priority : 0);
  const {
    uuid: _uuid,
    expiresAt: _expiresAt,
    launchLease: _lease,
    statusOnly: _mark,
    active: _active,
    ...entry
  } = plain as typeof plain & {
    launchLease?: unknown;
    statusOnly?: unknown;
    active?: unknown;
  };
  const names = typeNames(entry.instanceTypes);
  return (names === undefined ? entry : { ...entry, instanceTypes: names }) as QueueEntry;
}

/**
 * Entries written before types were stored by name hold whole type objects; read as their
 * names, so an upgrade keeps every queued entry launchable under the current definitions.
 */
function typeNames(stored: unknown): string[] | undefined {
  if (!Array.isArray(stored)) return undefined;
  return stored.map((t: unknown) =>
    typeof t === "object" && t !== null && "Name" in t && typeof t.Name === "string" ? t.Name : String(t),
  );
}

function bigintsToNumbers(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(bigintsToNumbers);
  if (typeof value === "object" && value !== null && !(value instanceof Uint8Array) && !(value instanceof Set)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, bigintsToNumbers(v)]));
  }
  return value;
}

export function toAttr(value: unknown): AttributeValue {
  return marshall({ v: value }, marshallOptions).v as AttributeValue;
}
