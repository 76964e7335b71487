import { randomUUID } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ArvadosClient, arvadosClientOptionsFromEnv } from "../arvados/client.js";
import { resolveArvadosToken } from "../arvados/token-source.js";
import { configFromEnv } from "../config/load.js";
import type { ClusterConfig } from "../config/types.js";
import { Queue } from "../queue/queue.js";
import { QueueStore } from "../store/queue-store.js";

/** A required environment variable is unset. */
export class MissingEnvironmentError extends Error {
  override readonly name = "MissingEnvironmentError";
  constructor(readonly variable: string) {
    super(`environment variable ${variable} is not set`);
  }
}

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === "") throw new MissingEnvironmentError(name);
  return value;
}

/** A DynamoDB client as handlers use it: the SDK's standard endpoint/region variables, patient retries. */
export function createDynamoDbClient(): DynamoDBClient {
  // Throttling is retried by the SDK with backoff; a few more attempts than the default ride out bursts.
  return new DynamoDBClient({ maxAttempts: 6 });
}

/** What every function needs, built once per cold start. */
export interface DispatchRuntime {
  config: ClusterConfig;
  store: QueueStore;
  api: ArvadosClient;
  queue: Queue;
}

/**
 * Builds the shared runtime from the environment (DESIGN.md "Contracts"): QUEUE_TABLE_NAME,
 * DISPATCH_CONFIG, ARVADOS_API_HOST and the token. Invalid config or a missing variable fails
 * here, at cold start, with a message naming what is wrong.
 */
export async function dispatchRuntimeFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<DispatchRuntime> {
  const { config } = configFromEnv(env);
  const store = new QueueStore(createDynamoDbClient(), requireEnv("QUEUE_TABLE_NAME", env));
  const token = await resolveArvadosToken(env);
  const api = new ArvadosClient({ ...arvadosClientOptionsFromEnv({ ...env, ARVADOS_API_TOKEN: token }) });
  const queue = new Queue(api, store, {
    leaseOwner: randomUUID(),
    leaseMs: 5 * 60_000,
  });
  return { config, store, api, queue };
}
