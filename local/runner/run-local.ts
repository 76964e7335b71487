/**
 * runLocal: the whole dispatcher on one machine. Starts DynamoDB Local and the simulators (or
 * uses the real services asked for), creates the queue table, runs the built handlers behind
 * serverless.yml's stream mappings and schedules, plays a workload and crunch-run, shows
 * progress, and returns a summary once every container has ended and no instance is left.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isContainerState, isFinalState } from "../../lib/model/container.js";
import { QueueStore } from "../../lib/store/queue-store.js";
import { loadWorkload, planWorkload, type Workload } from "../workload.js";
import { isWorkerUserData } from "../worker-sim/agents.js";
import { type LocalWorkers, localBootDelayMs, startLocalWorkers } from "../worker-sim/local-workers.js";
import { CrunchRunEmulator } from "./crunch-run.js";
import { SpotReclaimer } from "./spot-reclaimer.js";
import { type DisplayOutput, LiveDisplay } from "./display.js";
import { buildFunctionHost, type FunctionStats } from "./function-host.js";
import { FunctionUrlServer } from "./function-url-server.js";
import { prepareLocalConfig } from "./local-config.js";
import { createPlumbing, type Plumbing, requireBuild } from "./plumbing.js";
import { emptySnapshot, type ProgressSnapshot, ProgressTracker } from "./progress.js";
import { readServerlessSpec } from "./serverless-mappings.js";
import { PortBusyError, RunnerSetupError, type Services, startServices } from "./services.js";
import {
  containerOutcomes,
  formatSummary,
  latencyStats,
  queuedToLaunchLatencies,
  workerAssignmentTimes,
  type RunSummary,
} from "./summary.js";
import { WorkloadPlayer } from "./workload-player.js";

/** The repository root (dist/, .local/ and serverless.yml live here). */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** Options of a local run; every one has a default. */
export interface RunLocalOptions {
  /** A workload, or the path of a workload JSON file (default local/workload.json). */
  workload?: Workload | string;
  /** A cluster config to use as is (default: local/default-config.yml with PollInterval `pollInterval`). */
  configPath?: string;
  pollInterval?: string;
  /** Local length of EventBridge's one minute (default 5 s). */
  tickMs?: number;
  /** No in-place redraw: plain progress lines (tests, CI). */
  headless?: boolean;
  /** Give up after this long (default 5 min); Infinity for never. */
  timeoutMs?: number;
  /** Where the config copy and logs/ go (default <repo>/.local). */
  stateDir?: string;
  distDir?: string;
  /** Use this DynamoDB Local instead of starting one. */
  dynamodbEndpoint?: string;
  ports?: { dynamodb?: number; arvados?: number; ec2?: number; dispatchApi?: number };
  /** The ManagementToken the dispatch API accepts (default: DISPATCH_MANAGEMENT_TOKEN, else a random one per run). */
  managementToken?: string;
  /** Called once everything runs, with the dispatch API's address: a test can use it while the workload plays. */
  onReady?: (ready: {
    services: Services;
    dispatchApi: DispatchApiAddress;
    submitted: () => string[];
  }) => Promise<void> | void;
  /** AWS's DynamoDB and EC2 (as the AWS_* environment says) instead of local ones. */
  aws?: boolean;
  /** The real Arvados cluster of ARVADOS_API_HOST/ARVADOS_API_TOKEN instead of the simulator (no workload). */
  realArvados?: boolean;
  logLevel?: string;
  /** crunch-run timing on the simulated instances. */
  bootDelayMs?: number;
  /**
   * Run the real agent of each worker instance (user data from lib/cloud/worker-agent.ts) with
   * IMDS and a simulated crunch-run (local/worker-sim); other instances keep the emulator.
   * Off until the launch side builds worker user data (issue #18).
   */
  workerAgents?: boolean;
  /**
   * The functions' WORKER_MODE (lib/runtime/worker-mode.ts); `pool` also runs the worker agents.
   * Unset: the parent environment's.
   */
  workerMode?: "per-container" | "pool";
  shutdownDelayMs?: number;
  out?: DisplayOutput;
  signal?: AbortSignal;
  /**
   * The services as the functions see them, given those started: e.g. the cost bench puts its
   * DynamoDB meter in front of DynamoDB Local for the functions, not for the runner's own reads.
   */
  functionServices?: (services: Services) => Promise<Services>;
  /** Called about once a second while the workload plays, with the time since it started and each function's counters (live). */
  onSample?: (elapsedMs: number, functions: ReadonlyMap<string, FunctionStats>) => void;
  /** Called once the run has ended, before anything stops: a test can look at the services directly. */
  inspect?: (services: Services, summary: RunSummary) => Promise<void> | void;
  env?: NodeJS.ProcessEnv;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Where the local dispatch API listens, and the token it accepts. */
export interface DispatchApiAddress {
  /** `http://127.0.0.1:<port>/`, what Services.DispatchCloud.InternalURLs would list. */
  url: string;
  managementToken: string;
}

/** Runs the dispatcher locally until the workload is done (see RunLocalOptions); never throws after start-up. */
export async function runLocal(options: RunLocalOptions = {}): Promise<RunSummary> {
  const parentEnv = options.env ?? process.env;
  const env: NodeJS.ProcessEnv =
    options.workerMode === undefined ? parentEnv : { ...parentEnv, WORKER_MODE: options.workerMode };
  // Pool workers run the agent: without it nothing would start their containers.
  const workerAgents = options.workerAgents === true || env.WORKER_MODE === "pool";
  const tickMs = options.tickMs ?? 5_000;
  const stateDir = options.stateDir ?? join(repoRoot, ".local");
  const logDir = join(stateDir, "logs");
  const distDir = options.distDir ?? join(repoRoot, "dist");
  const out = options.out ?? process.stdout;
  const realArvados = options.realArvados === true;
  if (options.aws === true && !realArvados) {
    throw new RunnerSetupError(
      "--aws launches real EC2 instances: use it with --arvados (a real cluster), never with the simulator",
    );
  }

  const local = prepareLocalConfig({
    ...(options.configPath ? { userConfig: options.configPath } : {}),
    stateDir,
    pollInterval: options.pollInterval ?? "2s",
  });
  const clusterId = local.config.ClusterID || "zzzzz";
  const spec = readServerlessSpec({
    overrides: { clusterId, tagKeyPrefix: local.config.Containers.CloudVMs.TagKeyPrefix },
  });
  requireBuild(spec, distDir);
  const workload = realArvados
    ? undefined
    : typeof options.workload === "object"
      ? options.workload
      : loadWorkload(options.workload);

  const services = await startServices({
    clusterId,
    aws: options.aws === true,
    realArvados,
    withEc2: true,
    ...(options.dynamodbEndpoint === undefined ? {} : { dynamodbEndpoint: options.dynamodbEndpoint }),
    ...(options.ports?.dynamodb === undefined ? {} : { dynamodbPort: options.ports.dynamodb }),
    ...(options.ports?.arvados === undefined ? {} : { arvadosPort: options.ports.arvados }),
    ...(options.ports?.ec2 === undefined ? {} : { ec2Port: options.ports.ec2 }),
    ec2PendingMs: 1_000,
    ec2ShuttingDownMs: 1_000,
    env,
  });
  let plumbing: Plumbing | undefined;
  const urlServers: FunctionUrlServer[] = [];
  const managementToken =
    options.managementToken ?? (env.DISPATCH_MANAGEMENT_TOKEN || randomBytes(24).toString("base64url"));
  try {
    plumbing = createPlumbing({
      hostScript: await buildFunctionHost(join(stateDir, "function-host.mjs")),
      spec,
      services: options.functionServices === undefined ? services : await options.functionServices(services),
      distDir,
      logDir,
      configPath: local.path,
      logLevel: options.logLevel ?? "INFO",
      aws: options.aws === true,
      parentEnv: env,
      tickMs,
      managementToken,
    });
    // Each function with a Function URL (serverless.yml `url`) is served over HTTP, as Lambda would.
    let dispatchApi: DispatchApiAddress | undefined;
    for (const f of spec.functions.filter((fn) => fn.url)) {
      const target = plumbing.functions.get(f.name);
      if (target === undefined) continue;
      const server = new FunctionUrlServer((event) => target.invoke(event));
      urlServers.push(server);
      const port = f.name === "dispatch-api" ? options.ports?.dispatchApi : undefined;
      const url = await server.start(port).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") throw new PortBusyError(`${f.name} URL`, port ?? 0);
        throw err;
      });
      if (f.name === "dispatch-api") dispatchApi = { url, managementToken };
    }
    out.write(describeRun(services, local.path, tickMs, logDir, workload, dispatchApi));
    await plumbing.warm().catch((err: unknown) => {
      throw new RunnerSetupError(`${err instanceof Error ? err.message : String(err)} (see ${logDir})`);
    });
    const summary = await play(
      {
        ...options,
        workerAgents,
        tickMs,
        logDir,
        out,
        workload,
        ...(dispatchApi === undefined ? {} : { dispatchApi }),
      },
      services,
      plumbing,
      local.config.Containers.CloudVMs.TagKeyPrefix,
    );
    await options.inspect?.(services, summary);
    return summary;
  } finally {
    for (const server of urlServers) await server.stop();
    await plumbing?.stop();
    await services.stop();
  }
}

function describeRun(
  services: Services,
  configPath: string,
  tickMs: number,
  logDir: string,
  workload: Workload | undefined,
  dispatchApi: DispatchApiAddress | undefined,
): string {
  return [
    `DynamoDB:  ${services.dynamodbEndpoint ?? "AWS"} (table ${services.tableName})`,
    `Arvados:   ${services.arvadosHost}${services.arvadosSim === undefined ? " (real cluster)" : " (simulator)"}`,
    `EC2:       ${services.ec2Endpoint ?? "AWS"}${services.ec2Sim === undefined ? "" : " (simulator)"}`,
    `Config:    ${configPath}`,
    `Schedules: every ${(tickMs / 1000).toFixed(1)} s (EventBridge's 1 minute, shortened; change with --tick)`,
    `Logs:      ${logDir}/<function>.log`,
    ...(dispatchApi === undefined
      ? []
      : [
          `Dispatch API: ${dispatchApi.url}`,
          `  ManagementToken: ${dispatchApi.managementToken}`,
          `  e.g. curl -H "Authorization: Bearer ${dispatchApi.managementToken}" ${dispatchApi.url}arvados/v1/dispatch/containers`,
        ]),
    workload === undefined ? "" : `Workload:  ${planWorkload(workload).length} containers`,
    "",
  ].join("\n");
}

type PlayOptions = RunLocalOptions & {
  tickMs: number;
  logDir: string;
  out: DisplayOutput;
  workload: Workload | undefined;
  dispatchApi?: DispatchApiAddress;
};

async function play(
  options: PlayOptions,
  services: Services,
  plumbing: Plumbing,
  tagKeyPrefix: string,
): Promise<RunSummary> {
  const startedAt = Date.now();
  const { arvadosSim, ec2Sim } = services;
  const workerAgents = options.workerAgents === true;
  const player =
    arvadosSim !== undefined && options.workload !== undefined
      ? new WorkloadPlayer(arvadosSim, planWorkload(options.workload), startedAt)
      : undefined;
  for (const fault of options.workload?.ec2Faults ?? []) ec2Sim?.injectFault(fault);
  const crunchRun =
    arvadosSim !== undefined && ec2Sim !== undefined
      ? new CrunchRunEmulator({
          ec2: ec2Sim,
          arvados: arvadosSim,
          tagKeyPrefix,
          // The same boot as a worker's: comparing the modes must not favour either.
          bootDelayMs: options.bootDelayMs ?? localBootDelayMs(options.workload?.bootSeconds, options.tickMs),
          shutdownDelayMs: options.shutdownDelayMs ?? 500,
          plan: (uuid) => player?.get(uuid),
          defaultRuntimeMs: 5_000,
          ...(workerAgents ? { skip: (i: { userData?: string }) => isWorkerUserData(i.userData) } : {}),
        })
      : undefined;
  const workers: LocalWorkers | undefined =
    workerAgents && arvadosSim !== undefined && ec2Sim !== undefined && services.ec2Endpoint !== undefined
      ? await startLocalWorkers({
          ec2: ec2Sim,
          ec2Url: services.ec2Endpoint,
          token: services.arvadosToken,
          plan: (uuid) => player?.get(uuid),
          defaultRuntimeMs: 5_000,
          bootDelayMs: options.bootDelayMs ?? localBootDelayMs(options.workload?.bootSeconds, options.tickMs),
          stateDir: options.logDir,
        })
      : undefined;
  // EC2's two-minute spot warning, on the local clock (a tick is the local minute).
  const reclaimer =
    arvadosSim !== undefined && ec2Sim !== undefined
      ? new SpotReclaimer({
          ec2: ec2Sim,
          arvados: arvadosSim,
          tagKeyPrefix,
          region: services.region,
          interruptAfterMs: (uuid) => player?.get(uuid)?.spotInterruptionAfterMs,
          warningMs: 2 * options.tickMs,
          publish: (event) => plumbing.events.publish(event),
        })
      : undefined;
  const tracker = new ProgressTracker({
    store: new QueueStore(services.ddb, services.tableName),
    ...(arvadosSim === undefined ? {} : { arvados: arvadosSim }),
    ...(ec2Sim === undefined ? {} : { ec2: ec2Sim }),
    ...(player === undefined ? {} : { workload: player }),
    ...(options.dispatchApi === undefined ? {} : { dispatchApi: options.dispatchApi }),
    tagKeyPrefix,
    startedAt,
  });
  const display = new LiveDisplay(options.out, { live: options.headless !== true, top: 14, plainEveryMs: 5_000 });
  const frame = (snapshot: ProgressSnapshot) => ({
    snapshot,
    functions: [...plumbing.functions.values()].map((f) => ({
      name: f.name,
      stats: f.stats,
      ...(plumbing.schedules.stats.has(f.name) ? { schedule: plumbing.schedules.stats.get(f.name) } : {}),
    })),
    pump: plumbing.pump.stats,
    streamFailures: plumbing.streamFailures.records,
  });

  player?.submitDue();
  plumbing.start();
  crunchRun?.start();
  reclaimer?.start();
  if (options.dispatchApi !== undefined) {
    await options.onReady?.({
      services,
      dispatchApi: options.dispatchApi,
      submitted: () => player?.submitted.map((s) => s.uuid) ?? [],
    });
  }
  const timeoutMs = options.timeoutMs ?? 5 * 60_000;
  // Once everything has ended, cleanup gets a few more ticks to forget the finished entries.
  const drainMs = Math.max(3 * options.tickMs, 10_000);
  let settledAt: number | undefined;
  let stopReason: string | undefined;
  let snapshot = emptySnapshot();
  let sampleFailures = 0;
  try {
    for (;;) {
      player?.submitDue();
      try {
        snapshot = await tracker.sample();
        sampleFailures = 0;
      } catch (err) {
        // Ctrl-C also reaches DynamoDB Local (same process group): end with what was last seen.
        if (options.signal?.aborted) {
          stopReason = abortReason(options.signal);
          break;
        }
        if (++sampleFailures >= 5) throw err;
        await sleep(1_000);
        continue;
      }
      display.update(frame(snapshot));
      options.onSample?.(Date.now() - startedAt, new Map([...plumbing.functions].map(([name, f]) => [name, f.stats])));
      const now = Date.now();
      if (player !== undefined && settled(snapshot, player.done)) {
        settledAt ??= now;
        if (snapshot.finishedEntries === 0 || now - settledAt > drainMs) break;
      } else {
        settledAt = undefined;
      }
      if (now - startedAt > timeoutMs) {
        stopReason = `timed out after ${(timeoutMs / 1000).toFixed(0)} s`;
        break;
      }
      if (options.signal?.aborted) {
        stopReason = abortReason(options.signal);
        break;
      }
      await sleep(1_000);
    }
  } finally {
    crunchRun?.stop();
    reclaimer?.stop();
    await workers?.stop();
  }
  display.update(frame(snapshot), true);
  display.finish();

  // The final listing, fresher than the last sample, for the instance figures.
  const instances = ec2Sim?.instances() ?? [];
  const tagKey = `${tagKeyPrefix}ContainerUUID`;
  const instancesByState: Record<string, number> = {};
  for (const i of instances) instancesByState[i.state] = (instancesByState[i.state] ?? 0) + 1;
  const workerTag = `${tagKeyPrefix}Worker`;
  const assignments = workerAssignmentTimes(
    instances,
    (ec2Sim?.requests() ?? []).filter((r) => r.action === "CreateTags"),
    tagKeyPrefix,
  );
  const latencies = queuedToLaunchLatencies(player?.submitted ?? [], instances, tagKey, assignments);
  const latency = latencyStats(latencies);
  const summary: RunSummary = {
    finished: stopReason === undefined,
    ...(stopReason === undefined ? {} : { stopReason }),
    elapsedMs: Date.now() - startedAt,
    containers: containerOutcomes(snapshot),
    instancesLaunched:
      ec2Sim === undefined
        ? snapshot.launches
        : instances.filter((i) => i.tags[tagKey] !== undefined || i.tags[workerTag] === "pool").length,
    instancesByState: ec2Sim === undefined ? snapshot.instancesByState : instancesByState,
    finishedEntriesLeft: snapshot.finishedEntries,
    runInstancesErrors: snapshot.runInstancesErrors,
    spotInterruptions: { ...(reclaimer?.stats ?? { warned: 0, reclaimed: 0 }) },
    ...(latency === undefined ? {} : { latency }),
    streamFailures: plumbing.streamFailures.records,
    functionErrors: Object.fromEntries(
      [...plumbing.functions.values()].filter((f) => f.stats.errors > 0).map((f) => [f.name, f.stats.errors]),
    ),
    logDir: options.logDir,
    functions: Object.fromEntries([...plumbing.functions.values()].map((f) => [f.name, structuredClone(f.stats)])),
    schedules: Object.fromEntries(plumbing.schedules.stats),
    ...(services.sqs === undefined ? {} : { sqs: Object.fromEntries(services.sqs.stats) }),
  };
  options.out.write(`\n${formatSummary(summary)}`);
  return summary;
}

/** "interrupted" for a plain abort (Ctrl-C), else what the aborting Error says. */
function abortReason(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  return reason instanceof Error && reason.name !== "AbortError" ? `stopped: ${reason.message}` : "interrupted";
}

/** Every workload container has been submitted and has ended, and no instance is pending or running. */
function settled(s: ProgressSnapshot, allSubmitted: boolean): boolean {
  const live = (s.instancesByState.pending ?? 0) + (s.instancesByState.running ?? 0);
  return allSubmitted && live === 0 && s.containers.every((c) => isContainerState(c.state) && isFinalState(c.state));
}
