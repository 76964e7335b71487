import { randomUUID } from "node:crypto";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ArvadosClient } from "../arvados/client.js";
import { arvadosClientOptionsFromEnv, isTrueFlag } from "../arvados/env.js";
import { tokenSourceFromEnv } from "../arvados/token-source.js";
import { checkDriverRegion, createEc2Client } from "../cloud/client.js";
import { type BootDeployment, checkUserDataFits } from "../cloud/launch-user-data.js";
import { configFromEnv } from "../config/load.js";
import type { ClusterConfig } from "../config/types.js";
import { Ec2InstanceCloud } from "../cloud/ec2-instance-cloud.js";
import { Queue } from "../queue/queue.js";
import { initialMaxContainers } from "../scheduler/max-containers.js";
import { dispatchState } from "../store/dispatch-state.js";
import type { DispatchState } from "../model/dispatch-state.js";
import { LaunchTokens } from "../store/launch-tokens.js";
import { createDynamoDbClient } from "../store/dynamodb-client.js";
import { QueueIndexStore } from "../store/queue-index.js";
import { QueueStore } from "../store/queue-store.js";
import type { SharedState } from "../store/shared-state.js";
import { WorkerIdleStore } from "../store/worker-idle.js";

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

/**
 * The values every boot script gets from the deployment, as instanceCloudFromEnv passes them to
 * launches. The region is the SDK's (AWS_REGION in Lambda); where that variable is unset it is
 * left out, and the user data check counts it at its longest.
 */
export function bootDeploymentFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<BootDeployment> {
  return {
    apiHostInsecure: isTrueFlag(env.ARVADOS_API_HOST_INSECURE),
    tokenParameterName: env.ARVADOS_API_TOKEN_PARAMETER ?? "",
    ...(env.ARVADOS_API_HOST ? { apiHost: env.ARVADOS_API_HOST } : {}),
    ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}),
  };
}

/** What every function needs, built once per cold start. */
export interface DispatchRuntime {
  config: ClusterConfig;
  /** Upstream config keys present but not used here, to log once at cold start. */
  ignoredConfigKeys: string[];
  store: QueueStore;
  api: ArvadosClient;
  queue: Queue;
  state: SharedState<DispatchState>;
  /** A fresh lease owner per invocation: one Lambda environment runs one invocation at a time. */
  owner: () => string;
  ddb: DynamoDBClient;
}

/**
 * Builds the shared runtime from the environment (DESIGN.md "Contracts"): QUEUE_TABLE_NAME,
 * DISPATCH_CONFIG, ARVADOS_API_HOST and the token (ARVADOS_API_TOKEN or, in AWS, the SSM
 * parameter ARVADOS_API_TOKEN_PARAMETER). Invalid config (including one whose EC2 user data
 * could pass EC2's limit) or a missing variable fails here, at cold start, with a message naming
 * what is wrong and never the token.
 */
export async function dispatchRuntimeFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<DispatchRuntime> {
  const { config, ignored } = configFromEnv(env);
  // EC2 refuses user data over 16 KB: a config that could produce more fails here, not at a launch.
  checkUserDataFits(config, bootDeploymentFromEnv(env), env.DISPATCH_CONFIG);
  const ddb = createDynamoDbClient();
  const tableName = requireEnv("QUEUE_TABLE_NAME", env);
  const store = new QueueStore(ddb, tableName);
  // The token is read now, so a missing one fails the cold start, and then before each request.
  const tokens = tokenSourceFromEnv(env);
  const api = new ArvadosClient({
    ...arvadosClientOptionsFromEnv({ ...env, ARVADOS_API_TOKEN: await tokens.token() }),
    token: tokens,
  });
  // update-queue bounds its lease by its remaining time; this default covers other callers.
  const queue = new Queue(api, store, {
    leaseOwner: randomUUID(),
    leaseMs: 70_000,
    index: new QueueIndexStore(ddb, tableName),
  });
  const state = dispatchState(ddb, tableName, initialMaxContainers(config));
  return { config, ignoredConfigKeys: ignored, store, api, queue, state, owner: () => randomUUID(), ddb };
}

/** The EC2 side, for launch and cleanup: instance set id, compute instance profile, token parameter. */
export async function instanceCloudFromEnv(
  runtime: DispatchRuntime,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ cloud: Ec2InstanceCloud; tokens: LaunchTokens }> {
  const ec2 = createEc2Client();
  const region = (await ec2.config.region()) ?? "us-east-1";
  checkDriverRegion(runtime.config.Containers.CloudVMs.DriverParameters.Region, region);
  // §4.1: the instance set id is the token's uuid unless the deployment fixes one (its IAM policy names it).
  const instanceSetId = env.INSTANCE_SET_ID || (await runtime.queue.tokenUuid());
  const boot = bootDeploymentFromEnv(env);
  const cloud = new Ec2InstanceCloud({
    ec2,
    config: runtime.config,
    instanceSetId,
    tokenParameterName: boot.tokenParameterName ?? "",
    region,
    // Trimmed as the Arvados client trims it, so instances reach the host the functions do.
    apiHost: requireEnv("ARVADOS_API_HOST", env).trim(),
    apiHostInsecure: boot.apiHostInsecure === true,
    ...(env.COMPUTE_INSTANCE_PROFILE ? { instanceProfile: env.COMPUTE_INSTANCE_PROFILE } : {}),
  });
  return { cloud, tokens: new LaunchTokens(runtime.ddb, runtime.store.tableName) };
}

/** The pool workers' idle-since records (`#workers`), for cleanup's TimeoutIdle backstop and launch's margin. */
export function workerIdleStore(runtime: DispatchRuntime): WorkerIdleStore {
  return new WorkerIdleStore(runtime.ddb, runtime.store.tableName);
}
