import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  PutItemCommand,
  type PutItemCommandInput,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from "@aws-sdk/client-dynamodb";
import type { ContainerState } from "../model/container.js";
import type { IndexRecord, IndexSnapshot, QueueIndex, QueueIndexPort } from "../model/queue-index.js";
import { metaKey } from "./item-codec.js";

/**
 * The queue index: a compact copy of what update-queue last wrote for each cached container,
 * its uuid, state and a fingerprint of its cached fields, packed into a few `#index/<n>/<i>`
 * items. A steady update reads these instead of scanning the table (11,000 entries: about 80
 * RCU instead of 1,342), and compares each polled record's fingerprint with the index's.
 *
 * Only update-queue writes the index, under its lease. Other writers (lock, unlock, cancel,
 * forget) do not touch it: their changes make the index's fingerprint differ from the next
 * poll, so the next update rewrites that entry, which is what a full scan would have led to in
 * the end anyway, one idempotent write later. The `indexShards` attribute of `#queue` says the
 * index is whole: an update that is about to write removes it first and sets it again when the
 * entries and the index agree, so a crash in between leaves no index and the next update
 * scans and rebuilds it.
 */

const stateCodes: Record<ContainerState, string> = {
  Queued: "Q",
  Locked: "L",
  Running: "R",
  Complete: "C",
  Cancelled: "X",
};
const codeStates = new Map(Object.entries(stateCodes).map(([state, code]) => [code, state as ContainerState]));
/** Bytes of packed records per shard before the index grows another shard (a shard rewrite costs its size in WCU). */
export const shardTargetBytes = 48_000;

/** Which shard of `shards` holds `uuid` (FNV-1a: stable, cheap, spreads uuids evenly). */
export function shardOf(uuid: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < uuid.length; i++) {
    h ^= uuid.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
}

/** Shards for an index of `records` records, each about `shardTargetBytes` at most. */
export function shardCountFor(records: number): number {
  return Math.max(1, Math.ceil((records * 30) / shardTargetBytes));
}

/** Packs records: the shard's common uuid prefix once, then one `suffix state fingerprint` line each. */
export function encodeShard(records: readonly (readonly [string, IndexRecord])[]): { prefix: string; body: string } {
  const sorted = [...records].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  let prefix = sorted[0]?.[0] ?? "";
  for (const [uuid] of sorted) while (!uuid.startsWith(prefix)) prefix = prefix.slice(0, -1);
  const body = sorted
    .map(([uuid, r]) => `${uuid.slice(prefix.length)} ${stateCodes[r.state]}${r.fingerprint}`)
    .join("\n");
  return { prefix, body };
}

/** Unpacks a shard; undefined if it is not one this code wrote. */
export function decodeShard(prefix: string, body: string): [string, IndexRecord][] | undefined {
  if (body === "") return [];
  const out: [string, IndexRecord][] = [];
  for (const line of body.split("\n")) {
    const space = line.lastIndexOf(" ");
    const state = codeStates.get(line.charAt(space + 1));
    if (space < 0 || state === undefined) return undefined;
    out.push([prefix + line.slice(0, space), { state, fingerprint: line.slice(space + 2) }]);
  }
  return out;
}

const shardKey = (shards: number, i: number) => `${metaKey.index}/${shards}/${i}`;

/** Builds the write of one shard; never over a shard a later update wrote (`stamp`: that update's start time). */
export function putShardRequest(
  table: string,
  shards: number,
  i: number,
  packed: { prefix: string; body: string },
  stamp: string,
): PutItemCommandInput {
  return {
    TableName: table,
    Item: { uuid: { S: shardKey(shards, i) }, p: { S: packed.prefix }, e: { S: packed.body }, stamp: { S: stamp } },
    ConditionExpression: "attribute_not_exists(#stamp) OR #stamp <= :stamp",
    ExpressionAttributeNames: { "#stamp": "stamp" },
    ExpressionAttributeValues: { ":stamp": { S: stamp } },
  };
}

/** Builds the `#queue` write that marks the index whole (`shards`) or not (undefined), by the lease holder only. */
export function markIndexRequest(table: string, owner: string, shards: number | undefined): UpdateItemCommandInput {
  return {
    TableName: table,
    Key: { uuid: { S: metaKey.queue } },
    UpdateExpression: shards === undefined ? "REMOVE #indexShards" : "SET #indexShards = :shards",
    ConditionExpression: "#leaseOwner = :owner",
    ExpressionAttributeNames: { "#indexShards": "indexShards", "#leaseOwner": "leaseOwner" },
    ExpressionAttributeValues: {
      ":owner": { S: owner },
      ...(shards === undefined ? {} : { ":shards": { N: String(shards) } }),
    },
  };
}

/** A QueueIndexStore reads and writes the index items (see the module comment for the rules). */
export class QueueIndexStore implements QueueIndexPort {
  constructor(
    private readonly ddb: DynamoDBClient,
    readonly tableName: string,
  ) {}

  /** The whole index, read consistently; undefined if a shard is missing or unreadable (then scan and rebuild). */
  async read(shards: number): Promise<IndexSnapshot | undefined> {
    const keys = Array.from({ length: shards }, (_, i) => shardKey(shards, i));
    const found = new Map<string, { p: string; e: string }>();
    // BatchGetItem takes 100 keys at most; UnprocessedKeys come back under throttling.
    for (let start = 0; start < keys.length; start += 100) {
      let request: Record<string, { Keys: { uuid: { S: string } }[]; ConsistentRead: boolean }> | undefined = {
        [this.tableName]: {
          Keys: keys.slice(start, start + 100).map((k) => ({ uuid: { S: k } })),
          ConsistentRead: true,
        },
      };
      while (request !== undefined && Object.keys(request).length > 0) {
        const out = await this.ddb.send(
          new BatchGetItemCommand({ RequestItems: request, ReturnConsumedCapacity: "TOTAL" }),
        );
        for (const item of out.Responses?.[this.tableName] ?? []) {
          const key = item.uuid?.S;
          if (key !== undefined) found.set(key, { p: item.p?.S ?? "", e: item.e?.S ?? "" });
        }
        request = out.UnprocessedKeys as typeof request;
      }
    }
    const index: QueueIndex = new Map();
    const bodies: string[] = [];
    for (const key of keys) {
      const shard = found.get(key);
      if (shard === undefined) return undefined;
      const records = decodeShard(shard.p, shard.e);
      if (records === undefined) return undefined;
      for (const [uuid, record] of records) index.set(uuid, record);
      bodies.push(shard.e);
    }
    return { index, shards, bodies };
  }

  /**
   * Writes `index`: every shard when the shard count changes (or there is no previous snapshot),
   * else only the shards whose packed body changed. Returns the shard count to mark whole;
   * undefined if a later update's shard was found (then the index stays unmarked).
   */
  async write(index: QueueIndex, previous: IndexSnapshot | undefined, stamp: string): Promise<number | undefined> {
    const wanted = shardCountFor(index.size);
    const shards =
      previous !== undefined && wanted <= previous.shards && wanted * 4 > previous.shards ? previous.shards : wanted;
    const groups: [string, IndexRecord][][] = Array.from({ length: shards }, () => []);
    for (const [uuid, record] of index) groups[shardOf(uuid, shards)]?.push([uuid, record]);
    const reuse = previous !== undefined && previous.shards === shards;
    try {
      await Promise.all(
        groups.map(async (records, i) => {
          const packed = encodeShard(records);
          if (reuse && previous.bodies[i] === packed.body) return;
          await this.ddb.send(
            new PutItemCommand({
              ...putShardRequest(this.tableName, shards, i, packed, stamp),
              ReturnConsumedCapacity: "TOTAL",
            }),
          );
        }),
      );
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return undefined;
      throw err;
    }
    return shards;
  }

  /** Marks the index whole with `shards` shards, or not whole (undefined); false if `owner` lost the lease. */
  async mark(owner: string, shards: number | undefined): Promise<boolean> {
    try {
      await this.ddb.send(
        new UpdateItemCommand({ ...markIndexRequest(this.tableName, owner, shards), ReturnConsumedCapacity: "TOTAL" }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }
}
