import { createEc2Client } from "../cloud/client.js";
import { configFromEnv } from "../config/load.js";
import type { ClusterConfig } from "../config/types.js";
import { DispatchApi } from "../dispatch-api/dispatch-api.js";
import type { QueueReader } from "../dispatch-api/ports.js";
import { managementTokenFromEnv } from "./management-token.js";
import { Ec2InstanceCloud } from "../cloud/ec2-instance-cloud.js";
import { createDynamoDbClient } from "../store/dynamodb-client.js";
import { QueueStore } from "../store/queue-store.js";
import { requireEnv } from "./environment.js";

/**
 * The dispatch API from the environment, once per cold start: QUEUE_TABLE_NAME, DISPATCH_CONFIG
 * (prices, provider types, TagKeyPrefix), INSTANCE_SET_ID (whose instances it lists and may
 * change), and the ManagementToken (DISPATCH_MANAGEMENT_TOKEN, or in AWS the SSM parameter
 * DISPATCH_MANAGEMENT_TOKEN_PARAMETER). It never calls Arvados, so it needs no Arvados token.
 */
export async function dispatchApiFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ api: DispatchApi; config: ClusterConfig }> {
  const { config } = configFromEnv(env);
  const store = new QueueStore(createDynamoDbClient(), requireEnv("QUEUE_TABLE_NAME", env));
  const ec2 = createEc2Client();
  const cloud = new Ec2InstanceCloud({
    ec2,
    config,
    instanceSetId: requireEnv("INSTANCE_SET_ID", env),
    // Launch settings: this function never launches.
    tokenParameterName: "",
    region: (await ec2.config.region()) ?? "us-east-1",
    apiHost: "",
  });
  const api = new DispatchApi({
    queue: tableQueueReader(store),
    instances: cloud,
    managementToken: managementTokenFromEnv(env),
    config,
  });
  return { api, config };
}

/** The QueueReader of the queue table: the reads Queue.entries and Queue.get make. */
export function tableQueueReader(store: Pick<QueueStore, "scan" | "get">): QueueReader {
  return { entries: async () => (await store.scan()).entries, entry: (uuid) => store.get(uuid) };
}
