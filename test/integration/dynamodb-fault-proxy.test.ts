import { DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { DynamoDbFaultProxy, dynamoDbFaults, type DynamoDbFaultKind } from "../../local/dynamodb-fault-proxy.js";
import { createDynamoDbClient } from "../../lib/store/dynamodb-client.js";
import { freshQueueTable } from "../support/dynamodb.js";

/*
 * The soak's DynamoDB fault proxy, driven by the real SDK: each injected fault reaches the caller
 * as the exception DynamoDB would raise, and a failed request never reaches DynamoDB Local.
 */

let proxy: DynamoDbFaultProxy;
let ddb: DynamoDBClient;
let table: Awaited<ReturnType<typeof freshQueueTable>>;

beforeAll(async () => {
  table = await freshQueueTable();
  proxy = new DynamoDbFaultProxy(inject("dynamodbEndpoint"));
  // No SDK retries: each call is one request, so the fault it meets is the one it reports.
  ddb = new DynamoDBClient({
    endpoint: await proxy.start(),
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  await proxy.stop();
  await table.drop();
});

const put = (uuid: string) => ddb.send(new PutItemCommand({ TableName: table.tableName, Item: { uuid: { S: uuid } } }));
const stored = async (uuid: string) =>
  (await ddb.send(new GetItemCommand({ TableName: table.tableName, Key: { uuid: { S: uuid } }, ConsistentRead: true })))
    .Item !== undefined;

describe("the DynamoDB fault proxy", () => {
  it.each([
    ["throttle", "ProvisionedThroughputExceededException"],
    ["requestLimit", "RequestLimitExceeded"],
    ["throttling", "ThrottlingException"],
    ["internal", "InternalServerError"],
  ] as const)("answers %s as DynamoDB's %s, and the write never happens", async (kind, name) => {
    proxy.rates = { [kind]: 1 };
    const before = proxy.injected[kind];
    await expect(put(`zzzzz-dz642-${kind}`)).rejects.toMatchObject({ name });
    expect(proxy.injected[kind]).toBe(before + 1);
    proxy.rates = {};
    expect(await stored(`zzzzz-dz642-${kind}`)).toBe(false);
  });

  it("forwards everything when no rate is set", async () => {
    proxy.rates = {};
    await put("zzzzz-dz642-forwarded");
    expect(await stored("zzzzz-dz642-forwarded")).toBe(true);
  });

  it("shows its observer the body of every request, failed or forwarded", async () => {
    const bodies: string[] = [];
    proxy.observe = (body) => bodies.push(body);
    try {
      proxy.rates = { throttle: 1 };
      await expect(put("zzzzz-dz642-observed-failed")).rejects.toMatchObject({
        name: "ProvisionedThroughputExceededException",
      });
      proxy.rates = {};
      await put("zzzzz-dz642-observed-stored");
    } finally {
      proxy.observe = undefined;
    }
    expect(bodies.map((b) => (JSON.parse(b) as { Item: { uuid: { S: string } } }).Item.uuid.S)).toEqual([
      "zzzzz-dz642-observed-failed",
      "zzzzz-dz642-observed-stored",
    ]);
  });

  it("knows every kind it counts", () => {
    expect(Object.keys(proxy.injected).sort()).toEqual(Object.keys(dynamoDbFaults).sort());
  });
});

describe("the functions' DynamoDB client (createDynamoDbClient)", () => {
  /** A proxy that fails the first `failures` requests with `kind`, then forwards everything. */
  async function failingFirst(kind: DynamoDbFaultKind, failures: number, maxAttempts?: number) {
    let calls = 0;
    const p = new DynamoDbFaultProxy(inject("dynamodbEndpoint"), { [kind]: 1 }, () => (calls++ < failures ? 0 : 1));
    const client = createDynamoDbClient({
      endpoint: await p.start(),
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
      ...(maxAttempts === undefined ? {} : { maxAttempts }),
    });
    return { proxy: p, client };
  }

  it.each(["throttle", "throttling", "internal"] as const)(
    "retries %s with backoff until the write goes through",
    async (kind) => {
      const { proxy: p, client } = await failingFirst(kind, 2);
      try {
        const uuid = `zzzzz-dz642-retried-${kind}`;
        await client.send(new PutItemCommand({ TableName: table.tableName, Item: { uuid: { S: uuid } } }));
        expect(p.injected[kind]).toBe(2);
        expect(await stored(uuid)).toBe(true);
      } finally {
        await p.stop();
      }
    },
  );

  it("gives up after its attempts and reports the throttle", async () => {
    const { proxy: p, client } = await failingFirst("throttling", 100, 3);
    try {
      await expect(
        client.send(new PutItemCommand({ TableName: table.tableName, Item: { uuid: { S: "zzzzz-dz642-never" } } })),
      ).rejects.toMatchObject({
        name: "ThrottlingException",
        $metadata: { attempts: 3 },
      });
      expect(p.injected.throttling).toBe(3);
    } finally {
      await p.stop();
    }
  });
});
