import { DynamoDBClient, type DynamoDBClientConfig } from "@aws-sdk/client-dynamodb";

/**
 * The functions' DynamoDB client. The SDK retries throttling and 5xx errors with backoff; a few
 * more attempts than its default ride out bursts.
 */
export function createDynamoDbClient(config: DynamoDBClientConfig = {}): DynamoDBClient {
  return new DynamoDBClient({ maxAttempts: 6, ...config });
}
