import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  type GetItemCommandInput,
  PutItemCommand,
  type PutItemCommandInput,
} from "@aws-sdk/client-dynamodb";
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb";
import { marshallOptions } from "./item-codec.js";

/**
 * A SharedState is one `#`-keyed meta item that every invocation of every function reads and
 * changes (capacity/quota state, the launch token bucket). Changes are read-modify-write with an
 * optimistic version check, retried on conflict, so concurrent invocations never lose an update
 * and a cold start never forgets one. An optional TTL lets DynamoDB drop a state nobody renews.
 */
export class SharedState<T extends object> {
  constructor(
    private readonly ddb: DynamoDBClient,
    private readonly tableName: string,
    private readonly key: string,
    private readonly initial: () => T,
  ) {}

  /** Builds the read of the item. */
  getRequest(): GetItemCommandInput {
    return { TableName: this.tableName, Key: { uuid: { S: this.key } }, ConsistentRead: true };
  }

  /** Builds the conditional write of `value` over version `version` (0 = the item must not exist). */
  putRequest(value: T, version: number, expiresAt?: number): PutItemCommandInput {
    const item = marshall(
      { ...value, uuid: this.key, version: version + 1, ...(expiresAt === undefined ? {} : { expiresAt }) },
      marshallOptions,
    );
    return {
      TableName: this.tableName,
      Item: item,
      ConditionExpression: version === 0 ? "attribute_not_exists(#uuid)" : "#version = :version",
      ExpressionAttributeNames: version === 0 ? { "#uuid": "uuid" } : { "#version": "version" },
      ...(version === 0 ? {} : { ExpressionAttributeValues: { ":version": { N: String(version) } } }),
    };
  }

  /** The current value and its version (0 when the item does not exist yet). */
  async read(): Promise<{ value: T; version: number }> {
    const { Item } = await this.ddb.send(new GetItemCommand(this.getRequest()));
    if (Item === undefined) return { value: this.initial(), version: 0 };
    const { uuid: _uuid, version, expiresAt: _expiresAt, ...rest } = unmarshall(Item) as Record<string, unknown>;
    return { value: { ...this.initial(), ...rest } as T, version: typeof version === "number" ? version : 0 };
  }

  /**
   * Applies `change` atomically: reads, computes, writes if nobody wrote in between, and retries
   * otherwise. `change` must be pure (it may run several times). Returns what `change` returned.
   */
  async modify<R>(change: (current: T) => { next: T; result: R; expiresAt?: number }, attempts = 24): Promise<R> {
    for (let attempt = 1; ; attempt++) {
      const { value, version } = await this.read();
      const { next, result, expiresAt } = change(value);
      // Nothing changed and no TTL to renew: the read was the whole of it (cleanup's minute,
      // most launch passes), one write unit saved. A concurrent writer cannot be lost by this.
      if (version > 0 && expiresAt === undefined && sameValue(next, value)) return result;
      try {
        await this.ddb.send(new PutItemCommand(this.putRequest(next, version, expiresAt)));
        return result;
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException) || attempt >= attempts) throw err;
        // Each round lets one writer through: n contenders need up to n rounds. Full jitter,
        // doubling up to 320 ms, spreads them (12 takers at one instant needed more than 8 rounds
        // of the old linear backoff on a loaded machine).
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(10 * 2 ** attempt, 320)));
      }
    }
  }
}

/** Structural equality of two plain values (what marshall would write the same). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keys = (o: object) => Object.keys(o).filter((k) => (o as Record<string, unknown>)[k] !== undefined);
  const ka = keys(a);
  const kb = keys(b);
  return (
    ka.length === kb.length &&
    ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  );
}
