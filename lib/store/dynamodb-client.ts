import { DynamoDBClient, type DynamoDBClientConfig, type ServiceInputTypes, type ServiceOutputTypes } from "@aws-sdk/client-dynamodb";
import type { FinalizeRequestMiddleware } from "@smithy/types";

/**
 * The functions' DynamoDB client. The SDK retries throttling and 5xx errors with backoff (a few
 * more attempts than its default, to ride out bursts); it also retries here a
 * TransactionConflictException, which it treats as final: a single-item write meets one while a
 * transaction holds the item, and the write succeeds once that transaction ends.
 */
export function createDynamoDbClient(config: DynamoDBClientConfig = {}): DynamoDBClient {
  const client = new DynamoDBClient({ maxAttempts: 6, ...config });
  client.middlewareStack.addRelativeTo(markTransactionConflictsRetryable, {
    relation: "after",
    toMiddleware: "retryMiddleware",
    name: "retryTransactionConflicts",
    override: true,
  });
  return client;
}

/** Runs inside the retry middleware, which retries errors marked throttling, with backoff. */
const markTransactionConflictsRetryable: FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes> = (next) => async (args) => {
  try {
    return await next(args);
  } catch (err) {
    if (err instanceof Error && err.name === "TransactionConflictException") Object.assign(err, { $retryable: { throttling: true } });
    throw err;
  }
};
