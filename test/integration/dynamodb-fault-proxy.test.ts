import { DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { DynamoDbFaultProxy, dynamoDbFaults } from "../../lib/local/dynamodb-fault-proxy.js";
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
  (await ddb.send(new GetItemCommand({ TableName: table.tableName, Key: { uuid: { S: uuid } }, ConsistentRead: true }))).Item !== undefined;

describe("the DynamoDB fault proxy", () => {
  it.each([
    ["throttle", "ProvisionedThroughputExceededException"],
    ["requestLimit", "RequestLimitExceeded"],
    ["throttling", "ThrottlingException"],
    ["internal", "InternalServerError"],
    ["transactionConflict", "TransactionConflictException"],
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

  it("knows every kind it counts", () => {
    expect(Object.keys(proxy.injected).sort()).toEqual(Object.keys(dynamoDbFaults).sort());
  });
});
