/**
 * The idle-since records of pool workers (issue #18): when cleanup first saw each worker idle,
 * so cleanup can end a worker whose agent failed to power it off after TimeoutIdle, and the
 * launch pass can leave alone a worker about to go.
 *
 * Why one item, one attribute per worker (`#workers`, `idle:<instance id>` = ISO time), rather
 * than an item per worker: the table's only key is the partition key, so items per worker could
 * be read together only by a scan or a BatchGetItem of ids listed first; one item is one GetItem
 * per pass whatever the pool's size (about 45 bytes a worker: one read unit up to some 90
 * workers, and far below the 400 KB item limit at any MaxInstances EC2 would grant). Each change
 * is a SET or REMOVE of that worker's attribute alone, conditional on the value it read, so
 * overlapping cleanup passes (the schedule and a spot warning) never undo each other's sighting.
 */
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  type GetItemCommandInput,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from "@aws-sdk/client-dynamodb";
import type { IdleSinceChanges, IdleSinceRecords, WorkerIdleTable } from "../model/worker.js";
import { metaKey } from "./item-codec.js";

/** The attribute of one worker's record. */
const attributePrefix = "idle:";

/**
 * Changes per UpdateItem: DynamoDB caps an expression at 4 KB, and each change takes about 70
 * bytes of update and condition expression.
 */
export const idleChangesPerRequest = 40;

/** The read of every record. */
export function idleSinceGetRequest(tableName: string): GetItemCommandInput {
  return {
    TableName: tableName,
    Key: { uuid: { S: metaKey.workers } },
    ConsistentRead: true,
    ReturnConsumedCapacity: "TOTAL",
  };
}

/**
 * The conditional UpdateItems applying `changes`, at most `idleChangesPerRequest` changes each:
 * a SET names the value it replaces (or requires none), a REMOVE the value it removes.
 */
export function idleSinceUpdateRequests(tableName: string, changes: IdleSinceChanges): UpdateItemCommandInput[] {
  const all = [
    ...changes.set.map((c) => ({ kind: "set" as const, instanceId: c.instanceId, value: c.at, expect: c.replaces })),
    ...changes.remove.map((c) => ({ kind: "remove" as const, instanceId: c.instanceId, expect: c.value })),
  ];
  const requests: UpdateItemCommandInput[] = [];
  for (let start = 0; start < all.length; start += idleChangesPerRequest) {
    const names: Record<string, string> = {};
    const values: Record<string, { S: string }> = {};
    const set: string[] = [];
    const remove: string[] = [];
    const conditions: string[] = [];
    all.slice(start, start + idleChangesPerRequest).forEach((c, i) => {
      const name = `#w${i}`;
      names[name] = `${attributePrefix}${c.instanceId}`;
      if (c.expect === undefined) {
        conditions.push(`attribute_not_exists(${name})`);
      } else {
        values[`:old${i}`] = { S: c.expect };
        conditions.push(`${name} = :old${i}`);
      }
      if (c.kind === "set") {
        values[`:new${i}`] = { S: c.value };
        set.push(`${name} = :new${i}`);
      } else {
        remove.push(name);
      }
    });
    const update = [
      set.length > 0 ? `SET ${set.join(", ")}` : "",
      remove.length > 0 ? `REMOVE ${remove.join(", ")}` : "",
    ]
      .filter((part) => part !== "")
      .join(" ");
    requests.push({
      TableName: tableName,
      Key: { uuid: { S: metaKey.workers } },
      UpdateExpression: update,
      ConditionExpression: conditions.map((c) => `(${c})`).join(" AND "),
      ExpressionAttributeNames: names,
      ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
      ReturnConsumedCapacity: "TOTAL",
    });
  }
  return requests;
}

/** The records from the `#workers` item (none when it does not exist). */
export function idleSinceFromItem(item: Record<string, { S?: string }> | undefined): IdleSinceRecords {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(item ?? {})) {
    if (name.startsWith(attributePrefix) && value.S !== undefined) out[name.slice(attributePrefix.length)] = value.S;
  }
  return out;
}

/** The idle-since records in the queue table's `#workers` item. */
export class WorkerIdleStore implements WorkerIdleTable {
  constructor(
    private readonly ddb: DynamoDBClient,
    readonly tableName: string,
  ) {}

  async idleSince(): Promise<IdleSinceRecords> {
    const { Item } = await this.ddb.send(new GetItemCommand(idleSinceGetRequest(this.tableName)));
    return idleSinceFromItem(Item);
  }

  async updateIdleSince(changes: IdleSinceChanges): Promise<boolean> {
    let all = true;
    for (const request of idleSinceUpdateRequests(this.tableName, changes)) {
      try {
        await this.ddb.send(new UpdateItemCommand(request));
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
        all = false;
      }
    }
    return all;
  }
}
