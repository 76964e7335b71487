import { randomUUID } from "node:crypto";
import { ArvadosClient } from "../../lib/arvados/client.js";
import { ArvadosSimulator } from "../../local/arvados-sim/simulator.js";
import { Queue } from "../../lib/queue/queue.js";
import { QueueStore } from "../../lib/store/queue-store.js";
import type { CleanupDeps } from "../../lib/cleanup/ports.js";
import type { ClusterConfig } from "../../lib/config/types.js";
import { Ec2InstanceCloud } from "../../lib/cloud/ec2-instance-cloud.js";
import type { LaunchDeps } from "../../lib/launch/ports.js";
import { Ec2Simulator } from "../../local/ec2-sim/simulator.js";
import type { Ec2SimulatorOptions } from "../../local/ec2-sim/sim-state.js";
import { assignInstanceTypes } from "../../lib/queue/assign-types.js";
import { initialMaxContainers } from "../../lib/scheduler/max-containers.js";
import { dispatchState } from "../../lib/store/dispatch-state.js";
import type { DispatchState } from "../../lib/model/dispatch-state.js";
import { LaunchTokens } from "../../lib/store/launch-tokens.js";
import type { SharedState } from "../../lib/store/shared-state.js";
import { testClusterConfig } from "./cluster-config.js";
import { type ConsumedCapacity, meterConsumedCapacity } from "../../local/consumed-capacity.js";
import { freshQueueTable, localDynamoDb } from "./dynamodb.js";
import { localEc2Client } from "./ec2.js";

/** A queue wired to a fresh table in DynamoDB Local and a fresh Arvados simulator over HTTP. */
export interface QueueHarness {
  sim: ArvadosSimulator;
  api: ArvadosClient;
  store: QueueStore;
  /** What the store's client has consumed (DynamoDB's own figures). */
  usage: ConsumedCapacity;
  queue: Queue;
  tableName: string;
  /** A second Queue on the same table and API (another invocation). */
  otherQueue(): Queue;
  close(): Promise<void>;
}

export async function queueHarness(options: { clock?: () => Date } = {}): Promise<QueueHarness> {
  const ddb = localDynamoDb();
  const table = await freshQueueTable(ddb);
  const sim = new ArvadosSimulator();
  const url = await sim.start(0);
  const api = new ArvadosClient({
    apiHost: url,
    token: sim.rootToken,
    retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 20 },
  });
  const usage = meterConsumedCapacity(ddb);
  const store = new QueueStore(ddb, table.tableName);
  const makeQueue = () =>
    new Queue(api, store, {
      leaseOwner: randomUUID(),
      leaseMs: 60_000,
      ...(options.clock ? { clock: options.clock } : {}),
    });
  return {
    sim,
    api,
    store,
    usage,
    queue: makeQueue(),
    tableName: table.tableName,
    otherQueue: makeQueue,
    close: async () => {
      await sim.stop();
      await table.drop();
    },
  };
}

/** The queue harness plus EC2 (simulator), config, shared state and the token bucket: what launch and cleanup use. */
export interface DispatchHarness extends QueueHarness {
  ec2sim: Ec2Simulator;
  config: ClusterConfig;
  cloud: Ec2InstanceCloud;
  /** A cloud like `cloud` that reaches EC2 at `endpoint` instead (a proxy in front of the simulator). */
  cloudAt(endpoint: string): Ec2InstanceCloud;
  state: SharedState<DispatchState>;
  tokens: LaunchTokens;
  launchDeps(): LaunchDeps;
  cleanupDeps(): CleanupDeps;
  /** Poll and choose types for everything new, as update-queue and choose-instance-types would. */
  refresh(): Promise<void>;
}

/**
 * `clock` (default: real time) drives the queue's timestamps and the passes' `now`, so a test
 * can move time forward (TimeoutBooting, the unlisted-instance grace) without waiting.
 */
export async function dispatchHarness(
  cloudVMsExtra = "",
  ec2Options: Ec2SimulatorOptions = {},
  clock: () => Date = () => new Date(),
): Promise<DispatchHarness> {
  const base = await queueHarness({ clock });
  const ec2sim = new Ec2Simulator(ec2Options);
  const ec2Url = await ec2sim.start(0);
  const config = testClusterConfig(cloudVMsExtra);
  const cloudAt = (endpoint: string) =>
    new Ec2InstanceCloud({
      ec2: localEc2Client(endpoint),
      config,
      instanceSetId: base.sim.rootTokenUuid,
      tokenParameterName: "/arvados/test/token",
      region: "us-east-1",
      apiHost: "127.0.0.1:1",
    });
  const cloud = cloudAt(ec2Url);
  const ddb = localDynamoDb();
  const state = dispatchState(ddb, base.tableName, initialMaxContainers(config));
  const tokens = new LaunchTokens(ddb, base.tableName);
  const harness: DispatchHarness = {
    ...base,
    ec2sim,
    config,
    cloud,
    cloudAt,
    state,
    tokens,
    launchDeps: () => ({ ...harness, owner: randomUUID(), now: () => clock().getTime() }),
    cleanupDeps: () => ({ ...harness, now: () => clock().getTime() }),
    refresh: async () => {
      const report = await harness.queue.update();
      for (const entry of report.entries) {
        if (entry.instanceTypes === undefined) await assignInstanceTypes(entry.container.uuid, harness);
      }
    },
    close: async () => {
      await ec2sim.stop();
      await base.close();
    },
  };
  return harness;
}
