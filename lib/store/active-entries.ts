import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from "@aws-sdk/client-dynamodb";
import type { ActiveEntries, LaunchWrites } from "../model/active-entries.js";
import type { QueueEntry } from "../model/entry.js";
import { itemToEntry, metaKey } from "./item-codec.js";
import { activeMark } from "./requests.js";

/** The sparse index of live entries (infra/queue-table.yml). */
export const activeIndexName = "active";

/** Builds one page of the Query of the live entries (eventually consistent: a GSI allows no other). */
export function queryActiveRequest(
  table: string,
  startKey?: QueryCommandInput["ExclusiveStartKey"],
): QueryCommandInput {
  return {
    TableName: table,
    IndexName: activeIndexName,
    KeyConditionExpression: "#active = :active",
    ExpressionAttributeNames: { "#active": "active" },
    ExpressionAttributeValues: { ":active": { S: activeMark } },
    ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
  };
}

/**
 * Builds the release of the launch-pass lease that also keeps which entries passes wrote lately
 * (see LaunchWrites): the same write as a plain release, so the list costs nothing more.
 */
export function releaseLaunchPassRequest(
  table: string,
  owner: string,
  recent: Record<string, number>,
): UpdateItemCommandInput {
  const empty = Object.keys(recent).length === 0;
  return {
    TableName: table,
    Key: { uuid: { S: metaKey.launchPass } },
    UpdateExpression: empty
      ? "REMOVE #leaseOwner, #leaseUntil, #recent"
      : "SET #recent = :recent REMOVE #leaseOwner, #leaseUntil",
    ConditionExpression: "#leaseOwner = :owner",
    ExpressionAttributeNames: { "#leaseOwner": "leaseOwner", "#leaseUntil": "leaseUntil", "#recent": "recent" },
    ExpressionAttributeValues: {
      ":owner": { S: owner },
      ...(empty
        ? {}
        : { ":recent": { M: Object.fromEntries(Object.entries(recent).map(([u, t]) => [u, { N: String(t) }])) } }),
    },
  };
}

/** ActiveEntriesStore reads the `active` index and consistent copies of entries, and launch's recent writes. */
export class ActiveEntriesStore implements ActiveEntries, LaunchWrites {
  constructor(
    private readonly ddb: DynamoDBClient,
    readonly tableName: string,
  ) {}

  async query(): Promise<Map<string, QueueEntry>> {
    const entries = new Map<string, QueueEntry>();
    let startKey: QueryCommandInput["ExclusiveStartKey"];
    do {
      const page = await this.ddb.send(
        new QueryCommand({ ...queryActiveRequest(this.tableName, startKey), ReturnConsumedCapacity: "TOTAL" }),
      );
      for (const item of page.Items ?? []) {
        const entry = itemToEntry(item);
        if (entry !== undefined) entries.set(entry.container.uuid, entry);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return entries;
  }

  async getConsistent(uuids: readonly string[]): Promise<Map<string, QueueEntry>> {
    const entries = new Map<string, QueueEntry>();
    const unique = [...new Set(uuids)];
    // BatchGetItem takes 100 keys at most; UnprocessedKeys come back under throttling.
    for (let start = 0; start < unique.length; start += 100) {
      let request: Record<string, { Keys: { uuid: { S: string } }[]; ConsistentRead: boolean }> | undefined = {
        [this.tableName]: {
          Keys: unique.slice(start, start + 100).map((u) => ({ uuid: { S: u } })),
          ConsistentRead: true,
        },
      };
      while (request !== undefined && Object.keys(request).length > 0) {
        const out = await this.ddb.send(
          new BatchGetItemCommand({ RequestItems: request, ReturnConsumedCapacity: "TOTAL" }),
        );
        for (const item of out.Responses?.[this.tableName] ?? []) {
          const entry = itemToEntry(item);
          if (entry !== undefined) entries.set(entry.container.uuid, entry);
        }
        request = out.UnprocessedKeys as typeof request;
      }
    }
    return entries;
  }

  async recent(): Promise<Record<string, number>> {
    const { Item } = await this.ddb.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { uuid: { S: metaKey.launchPass } },
        ConsistentRead: true,
        ProjectionExpression: "#recent",
        ExpressionAttributeNames: { "#recent": "recent" },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    const map = Item?.recent?.M ?? {};
    return Object.fromEntries(Object.entries(map).map(([u, v]) => [u, Number(v.N ?? 0)]));
  }

  async release(owner: string, recent: Record<string, number>): Promise<boolean> {
    try {
      await this.ddb.send(
        new UpdateItemCommand({
          ...releaseLaunchPassRequest(this.tableName, owner, recent),
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }
}
