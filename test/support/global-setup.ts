import type { TestProject } from "vitest/node";
import { type DynamoDbLocal, startDynamoDbLocal } from "../../local/dynamodb-local.js";
import { ensureBuilt } from "./runner-build.js";

declare module "vitest" {
  export interface ProvidedContext {
    dynamodbEndpoint: string;
  }
}

let dynamo: DynamoDbLocal | undefined;

/**
 * Starts one DynamoDB Local (AWS's own implementation) for the whole run; tests
 * `inject("dynamodbEndpoint")`. Builds the Lambda bundles once, before any test file runs, so no
 * test that drives the built handlers rebuilds dist/ under another.
 */
export async function setup(project: TestProject): Promise<void> {
  const [started] = await Promise.all([startDynamoDbLocal(), ensureBuilt()]);
  dynamo = started;
  project.provide("dynamodbEndpoint", dynamo.endpoint);
}

export async function teardown(): Promise<void> {
  await dynamo?.stop();
}
