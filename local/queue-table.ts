import { readFileSync } from "node:fs";
import {
  type AttributeDefinition,
  type CreateTableCommandInput,
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import { parse } from "yaml";

/** Where the queue table's CloudFormation definition lives (shared with serverless.yml). */
export const queueTableDefinitionPath = new URL("../infra/queue-table.yml", import.meta.url);

interface TableProperties {
  AttributeDefinitions: AttributeDefinition[];
  KeySchema: KeySchemaElement[];
  GlobalSecondaryIndexes?: GlobalSecondaryIndex[];
  BillingMode?: string;
  StreamSpecification?: { StreamViewType: string };
  TimeToLiveSpecification?: { AttributeName: string; Enabled: boolean };
}

/** The table's properties as declared in infra/queue-table.yml. */
export function queueTableProperties(yamlText = readFileSync(queueTableDefinitionPath, "utf8")): TableProperties {
  const doc = parse(yamlText) as { Resources?: { QueueTable?: { Properties?: TableProperties } } };
  const properties = doc.Resources?.QueueTable?.Properties;
  if (properties === undefined) throw new Error("infra/queue-table.yml: Resources.QueueTable.Properties is missing");
  return properties;
}

/** Builds a CreateTable request equivalent to the CloudFormation definition, for DynamoDB Local. */
export function createQueueTableInput(tableName: string, properties = queueTableProperties()): CreateTableCommandInput {
  const stream = properties.StreamSpecification;
  return {
    TableName: tableName,
    AttributeDefinitions: properties.AttributeDefinitions,
    KeySchema: properties.KeySchema,
    ...(properties.GlobalSecondaryIndexes === undefined
      ? {}
      : { GlobalSecondaryIndexes: properties.GlobalSecondaryIndexes }),
    BillingMode: properties.BillingMode === "PAY_PER_REQUEST" ? "PAY_PER_REQUEST" : "PROVISIONED",
    ...(properties.BillingMode === "PAY_PER_REQUEST"
      ? {}
      : { ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 } }),
    ...(stream === undefined
      ? {}
      : {
          StreamSpecification: {
            StreamEnabled: true,
            StreamViewType: stream.StreamViewType as "NEW_AND_OLD_IMAGES",
          },
        }),
  };
}

/**
 * Creates the queue table from the infra definition (idempotent: an existing table is kept) and
 * enables its TTL attribute. Returns the table's stream ARN.
 */
export async function ensureQueueTable(ddb: DynamoDBClient, tableName: string): Promise<string | undefined> {
  const properties = queueTableProperties();
  try {
    await ddb.send(new CreateTableCommand(createQueueTableInput(tableName, properties)));
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  await waitUntilTableExists({ client: ddb, maxWaitTime: 30 }, { TableName: tableName });
  const ttl = properties.TimeToLiveSpecification;
  if (ttl?.Enabled) {
    // Enabling TTL twice is an error in DynamoDB, so look first.
    const current = await ddb.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    if (current.TimeToLiveDescription?.TimeToLiveStatus !== "ENABLED") {
      await ddb.send(
        new UpdateTimeToLiveCommand({
          TableName: tableName,
          TimeToLiveSpecification: { AttributeName: ttl.AttributeName, Enabled: true },
        }),
      );
    }
  }
  const { Table } = await ddb.send(new DescribeTableCommand({ TableName: tableName }));
  return Table?.LatestStreamArn;
}
