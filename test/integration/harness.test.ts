import {
  ConditionalCheckFailedException,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { DescribeStreamCommand, GetRecordsCommand, GetShardIteratorCommand } from "@aws-sdk/client-dynamodb-streams";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localDynamoDb, localDynamoDbStreams, freshQueueTable } from "../support/dynamodb.js";

const ddb = localDynamoDb();
const streams = localDynamoDbStreams();
let table: Awaited<ReturnType<typeof freshQueueTable>>;

beforeAll(async () => {
  table = await freshQueueTable(ddb);
});
afterAll(async () => {
  await table.drop();
});

describe("the harness runs AWS's DynamoDB Local with the table from infra/", () => {
  it("creates the table keyed by uuid with a NEW_AND_OLD_IMAGES stream and TTL on expiresAt", async () => {
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: table.tableName }));
    expect(Table?.KeySchema).toEqual([{ AttributeName: "uuid", KeyType: "HASH" }]);
    expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES" });
    expect(Table?.BillingModeSummary?.BillingMode).toBe("PAY_PER_REQUEST");
    const ttl = await ddb.send(new DescribeTimeToLiveCommand({ TableName: table.tableName }));
    expect(ttl.TimeToLiveDescription).toMatchObject({ AttributeName: "expiresAt", TimeToLiveStatus: "ENABLED" });
  });

  it("rejects a conditional write whose condition fails with ConditionalCheckFailedException", async () => {
    const item = { uuid: { S: "zzzzz-dz642-000000000000001" }, version: { N: "1" } };
    await ddb.send(new PutItemCommand({ TableName: table.tableName, Item: item }));
    const second = ddb.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: { ...item, version: { N: "2" } },
        ConditionExpression: "attribute_not_exists(#uuid)",
        ExpressionAttributeNames: { "#uuid": "uuid" },
      }),
    );
    await expect(second).rejects.toBeInstanceOf(ConditionalCheckFailedException);
  });

  it("delivers the accepted write, and only it, on the table's stream with its new image", async () => {
    const arn = table.streamArn;
    expect(arn).toBeDefined();
    const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: arn }));
    const shard = StreamDescription?.Shards?.[0];
    const { ShardIterator } = await streams.send(
      new GetShardIteratorCommand({ StreamArn: arn, ShardId: shard?.ShardId, ShardIteratorType: "TRIM_HORIZON" }),
    );
    const { Records } = await streams.send(new GetRecordsCommand({ ShardIterator }));
    const inserts = (Records ?? []).filter((r) => r.dynamodb?.Keys?.uuid?.S === "zzzzz-dz642-000000000000001");
    expect(inserts.map((r) => r.eventName)).toEqual(["INSERT"]);
    expect(inserts[0]?.dynamodb?.NewImage?.version).toEqual({ N: "1" });
  });
});
