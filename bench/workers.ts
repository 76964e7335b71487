/**
 * workers (issue #18): pool mode against one instance per container.
 *
 * - burst: same-shape containers launched by one launch pass after another against the
 *   throttling EC2 simulator (burst 5, 2/s): the time until every container has its instance
 *   requested, the RunInstances calls and the throttles.
 * - scatter and mixed (bench/worker-runs.ts): whole runs through the local runner in both modes.
 *
 * `BENCH_WORKERS_PARTS` picks some of `burst,runs` (default both).
 */
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { ArvadosClient } from "../lib/arvados/client.js";
import { createEc2Client } from "../lib/cloud/client.js";
import { Ec2InstanceCloud } from "../lib/cloud/ec2-instance-cloud.js";
import { loadClusterConfig } from "../lib/config/load.js";
import type { ClusterConfig } from "../lib/config/types.js";
import { runLaunchPass } from "../lib/launch/launch-pass.js";
import type { LaunchDeps } from "../lib/launch/ports.js";
import { assignInstanceTypes } from "../lib/queue/assign-types.js";
import { Queue } from "../lib/queue/queue.js";
import { maxBatchFor } from "../lib/runtime/worker-mode.js";
import { workerAssignmentRoom } from "../lib/cloud/worker-launch-user-data.js";
import { initialMaxContainers } from "../lib/scheduler/max-containers.js";
import { dispatchState } from "../lib/store/dispatch-state.js";
import { LaunchTokens } from "../lib/store/launch-tokens.js";
import { QueueStore } from "../lib/store/queue-store.js";
import { ArvadosSimulator } from "../local/arvados-sim/simulator.js";
import { Ec2Simulator } from "../local/ec2-sim/simulator.js";
import { runWorkerComparisons } from "./worker-runs.js";
import {
  type Benchmark,
  fixed,
  freshQueueTable,
  localDynamoDbClient,
  note,
  printTable,
  type Services,
  sleep,
} from "./harness.js";

/** The burst: same-shape containers (1 VCPU, 1 GiB), all Queued at once. */
const burst = Number(process.env.BENCH_WORKERS_BURST ?? 500);
/** The per-container mode needs burst/2 s of RunInstances calls: it is stopped after this long. */
const perContainerLimitMs = Number(process.env.BENCH_WORKERS_PER_CONTAINER_LIMIT_MS ?? 30_000);
const poolLimitMs = 300_000;

const configPath = fileURLToPath(new URL("../local/default-config.yml", import.meta.url));

interface BurstOutcome {
  mode: string;
  requested: number;
  firstToLastSeconds: number;
  wallSeconds: number;
  passes: number;
  runInstancesCalls: number;
  throttled: number;
  finished: boolean;
}

async function burstRun(
  endpoint: string,
  config: ClusterConfig,
  mode: "pool" | "per-container",
): Promise<BurstOutcome> {
  const sim = new ArvadosSimulator();
  const api = new ArvadosClient({ apiHost: await sim.start(0), token: sim.rootToken });
  const ec2sim = new Ec2Simulator({ throttle: true });
  const ec2 = createEc2Client({
    endpoint: await ec2sim.start(0),
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const ddb = localDynamoDbClient(endpoint);
  const table = await freshQueueTable(ddb, "bench-workers");
  try {
    const requestedAtMs = Date.now() - burst;
    for (let i = 0; i < burst; i++) {
      sim.addContainer(
        { runtime_constraints: { ram: 2 ** 30, vcpus: 1, keep_cache_ram: 0, keep_cache_disk: 0 } },
        { request: { priority: 500, createdAtMs: requestedAtMs + i } },
      );
    }
    const store = new QueueStore(ddb, table.tableName);
    const queue = new Queue(api, store, { leaseOwner: randomUUID(), leaseMs: 60_000 });
    const update = await queue.update();
    for (const entry of update.entries) await assignInstanceTypes(entry.container.uuid, { api, store, queue, config });
    const cloud = new Ec2InstanceCloud({
      ec2,
      config,
      instanceSetId: sim.rootTokenUuid,
      tokenParameterName: "/arvados/bench/dispatch-token",
      region: "us-east-1",
      apiHost: "127.0.0.1:1",
    });
    const deps: LaunchDeps = {
      queue,
      store,
      cloud,
      state: dispatchState(ddb, table.tableName, initialMaxContainers(config)),
      tokens: new LaunchTokens(ddb, table.tableName),
      config,
      owner: randomUUID(),
      ...(mode === "pool"
        ? {
            pool: {
              cloud,
              settings: {
                maxRunningContainersPerInstance: 0,
                timeoutIdleMs: 60_000,
                assignMarginMs: 20_000,
                maxBatchSize: maxBatchFor(workerAssignmentRoom(config)),
              },
            },
          }
        : {}),
    };
    const limit = mode === "pool" ? poolLimitMs : perContainerLimitMs;
    const start = Date.now();
    let passes = 0;
    const callTimes: number[] = [];
    let seen = 0;
    while (ec2sim.instances().length < burst && Date.now() - start < limit) {
      const report = await runLaunchPass(deps, () => 10 * 60_000);
      passes++;
      const calls = ec2sim.requests().filter((r) => r.action === "RunInstances" && r.error === undefined);
      for (const r of calls.slice(seen)) callTimes.push(r.at ?? Date.now());
      seen = calls.length;
      if (report.launched.length === 0) await sleep(100);
    }
    const stats = ec2sim.stats();
    return {
      mode,
      requested: ec2sim.instances().length,
      firstToLastSeconds: callTimes.length > 1 ? ((callTimes.at(-1) ?? 0) - (callTimes[0] ?? 0)) / 1000 : 0,
      wallSeconds: (Date.now() - start) / 1000,
      passes,
      runInstancesCalls: stats.runInstancesCalls,
      throttled: stats.throttled,
      finished: ec2sim.instances().length >= burst,
    };
  } finally {
    await table.drop().catch(() => undefined);
    ddb.destroy();
    ec2.destroy();
    await ec2sim.stop();
    await sim.stop();
  }
}

const parts = new Set((process.env.BENCH_WORKERS_PARTS ?? "burst,runs").split(","));

async function run(services: Services): Promise<void> {
  if (parts.has("burst")) await burstBench(services);
  if (parts.has("runs")) await runWorkerComparisons(services);
}

async function burstBench(services: Services): Promise<void> {
  const loaded = loadClusterConfig(configPath).config;
  // MaxInstances above the burst, so only EC2's buckets limit it.
  const config: ClusterConfig = {
    ...loaded,
    Containers: { ...loaded.Containers, CloudVMs: { ...loaded.Containers.CloudVMs, MaxInstances: 2 * burst } },
  };
  const outcomes: BurstOutcome[] = [];
  for (const mode of ["pool", "per-container"] as const)
    outcomes.push(await burstRun(services.dynamoDbEndpoint(), config, mode));
  printTable(
    `workers burst: ${burst} same-shape Queued containers, EC2 simulator throttle on (burst 5, 2/s), MaxInstances ${2 * burst}`,
    [
      "mode",
      "instances requested",
      "first→last RunInstances s",
      "wall s",
      "passes",
      "RunInstances calls",
      "RequestLimitExceeded",
    ],
    outcomes.map((o) => [
      o.mode +
        (o.finished ? "" : ` (stopped after ${(o.mode === "pool" ? poolLimitMs : perContainerLimitMs) / 1000} s)`),
      o.requested,
      fixed(o.firstToLastSeconds),
      fixed(o.wallSeconds),
      o.passes,
      o.runInstancesCalls,
      o.throttled,
    ]),
  );
  note(
    [
      "first→last: first to last successful RunInstances call (the EC2 time of the burst); wall s includes locking every container in the Arvados simulator and the table writes (claims, intents, records) on DynamoDB Local.",
      `Pool mode batches up to ${maxBatchFor(workerAssignmentRoom(config))} containers per call (what the agent's user data leaves room for).`,
    ].join("\n"),
  );
}

export const workers: Benchmark = {
  name: "workers",
  title: "pool mode against one instance per container: a burst, a short-step scatter, a mixed workload",
  needsDynamoDb: true,
  run,
};
