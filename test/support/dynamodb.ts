import { randomUUID } from "node:crypto";
import { DeleteTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  type AttributeValue,
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from "@aws-sdk/client-dynamodb-streams";
import { inject } from "vitest";
import { ensureQueueTable } from "../../local/queue-table.js";

/** A DynamoDB client for the run's DynamoDB Local. */
export function localDynamoDb(): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: inject("dynamodbEndpoint"),
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
}

/** A DynamoDB Streams client for the run's DynamoDB Local. */
export function localDynamoDbStreams(): DynamoDBStreamsClient {
  return new DynamoDBStreamsClient({
    endpoint: inject("dynamodbEndpoint"),
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
}

/** A fresh queue table, created from infra/queue-table.yml, unique to the caller. */
export async function freshQueueTable(ddb: DynamoDBClient = localDynamoDb()): Promise<{
  tableName: string;
  streamArn: string | undefined;
  drop: () => Promise<void>;
}> {
  const tableName = `queue-${randomUUID()}`;
  const streamArn = await ensureQueueTable(ddb, tableName);
  return {
    tableName,
    streamArn,
    drop: async () => void (await ddb.send(new DeleteTableCommand({ TableName: tableName }))),
  };
}

/** Every NewImage on a table's stream so far, all shards from their start (DynamoDB JSON, as Lambda gets it). */
export async function streamNewImages(streamArn: string | undefined): Promise<Record<string, AttributeValue>[]> {
  const streams = localDynamoDbStreams();
  const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
  const images: Record<string, AttributeValue>[] = [];
  for (const shard of StreamDescription?.Shards ?? []) {
    const { ShardIterator } = await streams.send(
      new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shard.ShardId, ShardIteratorType: "TRIM_HORIZON" }),
    );
    const { Records } = await streams.send(new GetRecordsCommand({ ShardIterator }));
    for (const record of Records ?? [])
      if (record.dynamodb?.NewImage !== undefined) images.push(record.dynamodb.NewImage);
  }
  return images;
}
