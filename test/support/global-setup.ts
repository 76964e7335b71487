import type { TestProject } from "vitest/node";
import { type DynamoDbLocal, startDynamoDbLocal } from "../../lib/local/dynamodb-local.js";
import { ensureBuilt } from "./runner-build.js";

declare module "vitest" {
  export interface ProvidedContext {
    dynamodbEndpoint: string;
  }
}

let dynamo: DynamoDbLocal | undefined;

/**
 * Starts one DynamoDB Local (AWS's own implementation) for the whole run; tests
 * `inject("dynamodbEndpoint")`. Builds the Lambda bundles once, before any test file runs: the
 * tests that drive the built handlers run in parallel and must not rebuild dist/ under each other.
 */
export async function setup(project: TestProject): Promise<void> {
  const [started] = await Promise.all([startDynamoDbLocal(), ensureBuilt()]);
  dynamo = started;
  project.provide("dynamodbEndpoint", dynamo.endpoint);
}

export async function teardown(): Promise<void> {
  await dynamo?.stop();
}
