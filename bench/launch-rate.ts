/**
 * launch-rate: how fast runLaunchPass starts instances against the EC2 simulator with its real
 * throttle model on (burst 5, refill 2/s, RequestLimitExceeded beyond), with our shared token
 * bucket (LaunchTokens) and without it. The goal is zero throttling errors with the bucket.
 */
import { startLaunchRig } from "./launch-rig.js";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { loadClusterConfig } from "../lib/config/load.js";
import type { ClusterConfig } from "../lib/config/types.js";
import { runLaunchPass } from "../lib/launch/launch-pass.js";
import type { LaunchDeps } from "../lib/launch/ports.js";
import type { InstanceCloud } from "../lib/model/instance-cloud.js";
import { initialMaxContainers } from "../lib/scheduler/max-containers.js";
import { dispatchState } from "../lib/store/dispatch-state.js";
import { LaunchTokens, runInstancesBucket } from "../lib/store/launch-tokens.js";
import { type Benchmark, fixed, note, printTable, type Services, sleep, timed } from "./harness.js";

/** Containers to launch: half Locked by us, half Queued (locked by the pass). At most MaxInstances (64). */
const containers = Number(process.env.BENCH_LAUNCH_CONTAINERS ?? 60);
/** Give up on a variant after this long (the unpaced one backs off up to 60 s per throttle). */
const variantLimitMs = 60_000;
/** Pause after a pass that launched nothing (a stream record or the sweep would start the next). */
const idlePassPauseMs = 100;

const configPath = fileURLToPath(new URL("../local/default-config.yml", import.meta.url));

interface Variant {
  label: string;
  bucket: { capacity: number; refillPerSecond: number };
}

interface Outcome {
  label: string;
  launched: number;
  seconds: number;
  firstToLastSeconds: number;
  passes: number;
  runInstancesCalls: number;
  simThrottled: number;
  reportThrottleErrors: number;
  capacityErrors: number;
  failures: number;
  finished: boolean;
}

async function runVariant(endpoint: string, config: ClusterConfig, variant: Variant): Promise<Outcome> {
  // Requests of the CWL runner's default priority, 1 ms apart: distinct int64 priorities (§5.6), oldest first.
  const requestedAtMs = Date.now() - containers;
  const rig = await startLaunchRig(endpoint, config, "bench-launch", (sim) => {
    for (let i = 0; i < containers; i++) {
      sim.addContainer(
        { state: i % 2 === 0 ? "Locked" : "Queued" },
        { request: { priority: 500, createdAtMs: requestedAtMs + i } },
      );
    }
  });
  const { ec2sim, ddb, tableName, store, queue, cloud } = rig;
  try {
    // Records when each launch succeeded, without changing what the pass does.
    const launchTimes: number[] = [];
    const recordingCloud: InstanceCloud = {
      launch: async (request) => {
        const launched = await cloud.launch(request);
        launchTimes.push(Date.now());
        return launched;
      },
      list: () => cloud.list(),
      terminate: (ids) => cloud.terminate(ids),
    };
    const deps: LaunchDeps = {
      queue,
      store,
      cloud: recordingCloud,
      state: dispatchState(ddb, tableName, initialMaxContainers(config)),
      tokens: new LaunchTokens(ddb, tableName, variant.bucket),
      config,
      owner: randomUUID(),
    };

    let passes = 0;
    let reportThrottleErrors = 0;
    let capacityErrors = 0;
    let failures = 0;
    const start = Date.now();
    const { seconds } = await timed(async () => {
      while (launchTimes.length < containers && Date.now() - start < variantLimitMs) {
        const report = await runLaunchPass(deps, () => 10 * 60_000);
        passes++;
        reportThrottleErrors += report.throttleErrors;
        capacityErrors += report.capacityErrors;
        failures += report.failures;
        if (report.launched.length === 0) await sleep(idlePassPauseMs);
      }
    });
    const stats = ec2sim.stats();
    return {
      label: variant.label,
      launched: stats.instancesLaunched,
      seconds,
      firstToLastSeconds: launchTimes.length > 1 ? ((launchTimes.at(-1) ?? 0) - (launchTimes[0] ?? 0)) / 1000 : 0,
      passes,
      runInstancesCalls: stats.runInstancesCalls,
      simThrottled: stats.throttled,
      reportThrottleErrors,
      capacityErrors,
      failures,
      finished: launchTimes.length >= containers,
    };
  } finally {
    await rig.stop();
  }
}

async function run(services: Services): Promise<void> {
  const { config } = loadClusterConfig(configPath);
  const variants: Variant[] = [
    {
      label: `LaunchTokens (burst ${runInstancesBucket.capacity}, ${runInstancesBucket.refillPerSecond}/s)`,
      bucket: runInstancesBucket,
    },
    {
      label: "LaunchTokens burst 5, 2/s (EC2's own figures, no headroom)",
      bucket: { capacity: 5, refillPerSecond: 2 },
    },
    { label: "no bucket (LaunchTokens burst 1e9)", bucket: { capacity: 1e9, refillPerSecond: 1e9 } },
  ];
  const outcomes: Outcome[] = [];
  for (const variant of variants) outcomes.push(await runVariant(services.dynamoDbEndpoint(), config, variant));
  printTable(
    `launch-rate: ${containers} containers (half Locked, half Queued), EC2 simulator throttle on (burst 5, refill 2/s), local/default-config.yml`,
    [
      "pacing",
      "launched",
      "wall s",
      "launches/s",
      "first→last s",
      "passes",
      "RunInstances calls",
      "RequestLimitExceeded (sim)",
      "throttleErrors (reports)",
      "other failures",
    ],
    outcomes.map((o) => [
      o.label + (o.finished ? "" : ` (stopped after ${variantLimitMs / 1000} s)`),
      o.launched,
      fixed(o.seconds),
      fixed(o.launched / o.seconds),
      fixed(o.firstToLastSeconds),
      o.passes,
      o.runInstancesCalls,
      o.simThrottled,
      o.reportThrottleErrors,
      o.failures + o.capacityErrors,
    ]),
  );
  note(
    [
      "wall s: from the first pass to the end of the last (types already chosen); launches/s = launched / wall s; first→last: first to last successful RunInstances.",
      `EC2's bucket allows 5 + 2/s: ${containers} launches need at least ${fixed((containers - 5) / 2, 1)} s at the refill rate.`,
      `A pass that launched nothing is followed by a ${idlePassPauseMs} ms pause before the next.`,
    ].join("\n"),
  );
}

export const launchRate: Benchmark = {
  name: "launch-rate",
  title: "runLaunchPass against the throttling EC2 simulator, with and without the token bucket",
  needsDynamoDb: true,
  run,
};
