/**
 * runSoak: the local runner's parts (DynamoDB Local, the simulators, the built handlers in their
 * own processes, serverless.yml's stream mappings and schedules, crunch-run) driven with a seeded
 * workload while the ChaosDriver injects faults, then a calm phase until the system converges or
 * the time limit passes; then the invariants are checked against what the services hold.
 *
 * The functions reach DynamoDB, Arvados and EC2 through proxies (DynamoDB's fault proxy, and an
 * InterceptProxy for crash points in front of each simulator); the runner's own reads (stream
 * pump, progress, the final checks) go direct, as Lambda's own stream reads do in AWS.
 */
import type { SqsChaos } from "../runner/sqs-local.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { isFinalState } from "../../lib/model/container.js";
import { QueueStore } from "../../lib/store/queue-store.js";
import { DynamoDbFaultProxy, type DynamoDbFaultKind } from "../dynamodb-fault-proxy.js";
import { SecretScan } from "../secret-scan.js";
import { CrunchRunEmulator } from "../runner/crunch-run.js";
import { SpotReclaimer } from "../runner/spot-reclaimer.js";
import { buildFunctionHost, type FunctionStats, LambdaFunction } from "../runner/function-host.js";
import { prepareLocalConfig } from "../runner/local-config.js";
import { createPlumbing, type Plumbing, requireBuild } from "../runner/plumbing.js";
import { repoRoot } from "../runner/run-local.js";
import { readServerlessSpec } from "../runner/serverless-mappings.js";
import { startServices } from "../runner/services.js";
import { WorkloadPlayer } from "../runner/workload-player.js";
import type { PumpChaos, PumpStats } from "../stream-pump.js";
import { planWorkload } from "../workload.js";
import { ChaosDriver, type ChaosSettings, type ChaosStats } from "./chaos.js";
import { CrashPointSet } from "./crash-points.js";
import { InterceptProxy } from "./intercept-proxy.js";
import { checkInvariants, type FinalContainer, type InvariantResult } from "./invariants.js";
import { InstanceLedger } from "./ledger.js";
import { containerStates, intentRepeats, progressLine, writeFinalState } from "./observe.js";
import { forkRandom } from "./random.js";
import { soakWorkload, unsatisfiableError, unsatisfiablePrefix } from "./soak-workload.js";
import { workerAgentDefaults } from "../../lib/cloud/worker-agent.js";
import { orderTagInfix } from "../../lib/cloud/worker-channel.js";
import type { WorkerMode } from "../../lib/runtime/worker-mode.js";
import type { CrunchRunSimStats } from "../crunch-run-sim/host.js";
import { isWorkerUserData, type WorkerAgentStats } from "../worker-sim/agents.js";
import { LateTags } from "../worker-sim/late-tags.js";
import { type LocalWorkers, localBootDelayMs, startLocalWorkers } from "../worker-sim/local-workers.js";
import { WorkerChaos, type WorkerChaosSettings, type WorkerChaosStats } from "./worker-chaos.js";
import { checkWorkerInvariants, idleLimitMs } from "./worker-invariants.js";
import { checkingDynamoDbRequests, checkingRequests, checkLogs } from "./token-scan.js";

/** What to run; see defaultChaosSettings for the fault mix. */
export interface SoakOptions {
  containers: number;
  seed: number;
  /** Give up after this long; the invariants are checked either way. */
  timeLimitMs: number;
  /** The fault phase; the calm phase follows. */
  chaosMs: number;
  /** Submissions are spread over this long. */
  submitWindowMs: number;
  runtimeSeconds?: { min: number; max: number };
  /** Overrides of defaultChaosSettings(chaosMs). */
  chaos?: Partial<ChaosSettings>;
  /** Local length of EventBridge's one minute (default 2 s). */
  tickMs?: number;
  /** Containers.CloudVMs.PollInterval (default 1s). */
  pollInterval?: string;
  /** How far the EC2 simulator's DescribeInstances lags behind (default 1.5 ticks, see runSoak). */
  ec2ListingLagMs?: number;
  /** Use this DynamoDB Local instead of starting one (tests share one). */
  dynamodbEndpoint?: string;
  stateDir?: string;
  distDir?: string;
  /** Progress lines go here (default stdout). */
  out?: { write(text: string): unknown };
  progressEveryMs?: number;
  env?: NodeJS.ProcessEnv;
  /**
   * `pool`: the functions run with WORKER_MODE=pool, each worker instance runs the real agent
   * (local/worker-sim) with the crunch-run simulator, WorkerChaos adds the instance side's
   * faults, and the worker invariants are checked too. Default `per-container`.
   */
  workerMode?: WorkerMode;
  /** Pool mode: CloudVMs.TimeoutIdle (default 30 s: a worker can be reused, and the pool drains quickly). */
  timeoutIdleMs?: number;
  /**
   * EC2 reclaims the spot instance of one spot container in four as soon as it runs (default
   * true). Off, no warning is sent: in pool mode a reclaim often strands a container for a real
   * minute (see worker-chaos.ts `victims`), too long for the in-suite run.
   */
  spotReclaims?: boolean;
  /** Pool mode: overrides of defaultWorkerChaosSettings(chaosMs, tickMs). */
  workerChaos?: Partial<WorkerChaosSettings>;
}

/** What pool mode's instance side did. */
export interface SoakWorkers {
  agents: WorkerAgentStats;
  crunchRun: CrunchRunSimStats;
  faults: WorkerChaosStats;
  timeoutIdleMs: number;
}

/** Everything a soak measured. */
export interface SoakResult {
  seed: number;
  containers: number;
  unsatisfiable: number;
  /** The system converged (every container ended, nothing left running or cached) before the time limit. */
  converged: boolean;
  durationMs: number;
  /** When the calm phase began, and how long after it the system converged. */
  calmAtMs: number;
  convergedAfterCalmMs?: number;
  invariants: InvariantResult[];
  faults: ChaosStats & {
    dynamodb: Record<DynamoDbFaultKind, number>;
    crashPoints: Record<string, number>;
    environmentsKilled: number;
    crashesMissed: number;
    /** RunInstances calls refused by the simulator's own token bucket (EC2's request rate model). */
    ec2Throttled: number;
    stream: { redelivered: number; reordered: number };
    /** Tick and wake-up messages (all queues) lost, duplicated and delivered late. */
    sqs: { lost: number; duplicated: number; late: number };
    /** Spot interruption warnings sent to cleanup, and instances EC2 had to reclaim itself after one. */
    spot: { warned: number; reclaimed: number };
    /** How far DescribeInstances lagged behind launches and state changes (EC2 lists eventually). */
    ec2ListingLagMs: number;
  };
  launches: {
    instancesCreated: number;
    runInstancesCalls: number;
    runInstancesErrors: Record<string, number>;
    longestLaunchGapMs: number;
    /** Launch intents whose call launch sent again, by what EC2's answer showed (launched, failed, unknown, terminated). */
    intentRepeats: Record<string, number>;
  };
  functions: Record<string, FunctionStats>;
  pump: PumpStats;
  /** Stream records the mappings gave up on (Lambda's on-failure destination). */
  streamRecordsGivenUp: number;
  logDir: string;
  workerMode: WorkerMode;
  /** Pool mode only. */
  workers?: SoakWorkers;
}

/**
 * Pool mode's instance-side faults: a few workers die and a few agents never start early in the
 * fault phase; order tags fail now and then, and one in five shows in IMDS one to three ticks late.
 */
export function defaultWorkerChaosSettings(chaosMs: number, tickMs: number): WorkerChaosSettings {
  return {
    chaosMs,
    stepMs: 500,
    instanceDeath: 0.02,
    victims: "any",
    neverBoots: 0.03,
    lostTag: 0.01,
    lateTag: 0.2,
    lateTagMs: { min: tickMs, max: 3 * tickMs },
  };
}

/** The fault mix: frequent during the fault phase, each kind often enough to show up in a short run. */
export function defaultChaosSettings(chaosMs: number): ChaosSettings {
  return {
    chaosMs,
    stepMs: 500,
    arvadosFault: 0.35,
    ec2Fault: 0.2,
    crashPoint: 0.15,
    randomKill: 0.06,
    overlappingUpdate: 0.05,
    dynamodbBurst: 0.02,
    dynamodb: { throttle: 0.03, requestLimit: 0.01, throttling: 0.02, internal: 0.02 },
    pump: { redeliverRate: 0.2, reorderRate: 0.3 },
    // Per message sent: lost ticks stop the chain until the watchdog restarts it (a local minute).
    sqs: { loseRate: 0.05, duplicateRate: 0.1, lateRate: 0.15, maxLateMs: 4_000 },
    crashCallers: ["launch", "choose-instance-types"],
    killTargets: ["launch", "choose-instance-types", "cleanup"],
    launchKillSpacingMs: 65_000,
    ec2Faults: [
      "type-capacity",
      "type-capacity",
      "subnet-capacity",
      "subnet-addresses",
      "instance-limit",
      "vcpu-limit",
      "request-limit",
      "request-limit",
    ],
    statuses: [500, 502, 503, 504],
    poll503Bursts: true,
    timeouts: true,
    clientTimeoutMs: 30_000,
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs one soak (see the module comment); throws only for set-up failures. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const env = {
    ...(options.env ?? process.env),
    ...(options.workerMode === undefined ? {} : { WORKER_MODE: options.workerMode }),
  };
  const out = options.out ?? process.stdout;
  const tickMs = options.tickMs ?? 2_000;
  const stateDir = options.stateDir ?? join(repoRoot, ".local", "soak");
  const logDir = join(stateDir, "logs");
  const distDir = options.distDir ?? join(repoRoot, "dist");
  const workerMode = options.workerMode ?? "per-container";
  const pool = workerMode === "pool";
  const timeoutIdleMs = options.timeoutIdleMs ?? 30_000;
  const local = prepareLocalConfig({
    stateDir,
    pollInterval: options.pollInterval ?? "1s",
    ...(pool ? { cloudVMs: { TimeoutIdle: `${timeoutIdleMs / 1000}s` } } : {}),
  });
  const config = local.config;
  const clusterId = config.ClusterID || "zzzzz";
  const tagKeyPrefix = config.Containers.CloudVMs.TagKeyPrefix;
  const spec = readServerlessSpec({ overrides: { clusterId, tagKeyPrefix } });
  requireBuild(spec, distDir);
  const workload = soakWorkload({
    count: options.containers,
    submitWindowSeconds: options.submitWindowMs / 1000,
    runtimeSeconds: options.runtimeSeconds ?? { min: 1, max: 3 },
    random: forkRandom(options.seed, "workload"),
  });
  const planned = planWorkload(workload);
  const chaosSettings: ChaosSettings = { ...defaultChaosSettings(options.chaosMs), ...options.chaos };
  // EC2 lists eventually: a new instance shows in DescribeInstances seconds after RunInstances
  // returned, and so does a state change. At the soak's pace (a tick stands for a minute) one
  // and a half ticks, so the launch pass after a lost RunInstances reply does not see the
  // instance yet and must repeat the call of its launch intent rather than plan another.
  const ec2ListingLagMs = options.ec2ListingLagMs ?? Math.round(1.5 * tickMs);

  // Read live by the local SQS: the chaos driver sets the rates for the fault phase only.
  const sqsChaos: SqsChaos = {
    loseRate: 0,
    duplicateRate: 0,
    lateRate: 0,
    maxLateMs: 0,
    random: forkRandom(options.seed, "sqs"),
  };
  const services = await startServices({
    clusterId,
    aws: false,
    realArvados: false,
    withEc2: true,
    ...(options.dynamodbEndpoint === undefined ? {} : { dynamodbEndpoint: options.dynamodbEndpoint }),
    ec2PendingMs: 500,
    ec2ShuttingDownMs: 500,
    ec2Throttle: true,
    ec2ListingLagMs,
    sqsChaos,
    env,
  });
  const stops: (() => Promise<void>)[] = [() => services.stop()];
  try {
    const { arvadosSim, ec2Sim } = services;
    if (
      arvadosSim === undefined ||
      ec2Sim === undefined ||
      services.dynamodbEndpoint === undefined ||
      services.ec2Endpoint === undefined
    ) {
      throw new Error("the soak needs DynamoDB Local and both simulators");
    }
    let player: WorkloadPlayer | undefined;
    let plumbing: Plumbing | undefined;
    const crashPoints = new CrashPointSet({
      crash: (caller) => plumbing?.functions.get(caller)?.crash() ?? 0,
      isUnsatisfiable: (uuid) => player?.get(uuid)?.label.startsWith(unsatisfiablePrefix) === true,
      random: forkRandom(options.seed, "crash-points"),
    });
    const tokenScan = new SecretScan(services.arvadosToken);
    const dynamodbProxy = new DynamoDbFaultProxy(services.dynamodbEndpoint, {}, forkRandom(options.seed, "dynamodb"));
    dynamodbProxy.observe = checkingDynamoDbRequests(tokenScan);
    const arvadosProxy = new InterceptProxy(
      services.arvadosHost,
      checkingRequests(tokenScan, "Arvados request", crashPoints.arvados),
    );
    const ec2Proxy = new InterceptProxy(
      services.ec2Endpoint,
      checkingRequests(tokenScan, "EC2 request", crashPoints.ec2),
    );
    const [dynamodbUrl, arvadosUrl, ec2Url] = await Promise.all([
      dynamodbProxy.start(),
      arvadosProxy.start(),
      ec2Proxy.start(),
    ]);
    stops.push(
      () => dynamodbProxy.stop(),
      () => arvadosProxy.stop(),
      () => ec2Proxy.stop(),
    );

    const pumpChaos: PumpChaos = { redeliverRate: 0, reorderRate: 0, random: forkRandom(options.seed, "pump") };
    plumbing = createPlumbing({
      hostScript: await buildFunctionHost(join(stateDir, "function-host.mjs")),
      spec,
      // The functions' view of the services: every endpoint through its proxy.
      services: { ...services, dynamodbEndpoint: dynamodbUrl, arvadosHost: arvadosUrl, ec2Endpoint: ec2Url },
      distDir,
      logDir,
      configPath: local.path,
      logLevel: "INFO",
      aws: false,
      parentEnv: env,
      tickMs,
      pumpChaos,
    });
    const running = plumbing;
    stops.push(() => running.stop());
    const primaryUpdate = plumbing.functions.get("update-queue");
    if (primaryUpdate === undefined) throw new Error("serverless.yml has no update-queue");
    const twinLog = join(logDir, "update-queue-twin.log");
    writeFileSync(twinLog, "");
    // Its own environment, hence its own lease owner: the second of two overlapping invocations.
    const updateTwin = new LambdaFunction({ ...primaryUpdate.options, logFile: twinLog, maxEnvironments: 1 });
    stops.push(() => updateTwin.stop());
    await Promise.all([plumbing.warm(), updateTwin.warm()]);
    // The clock starts once every function is warm: the workload and the fault phase are timed from here.
    const startedAt = Date.now();
    const workloadPlayer = new WorkloadPlayer(arvadosSim, planned, startedAt);
    player = workloadPlayer;

    const crunchRun = new CrunchRunEmulator({
      ec2: ec2Sim,
      arvados: arvadosSim,
      tagKeyPrefix,
      bootDelayMs: 300,
      shutdownDelayMs: 200,
      plan: (uuid) => workloadPlayer.get(uuid),
      defaultRuntimeMs: 1_000,
      // Pool workers run the real agent (below); one-container instances keep the emulator.
      ...(pool ? { skip: (i: { userData?: string }) => isWorkerUserData(i.userData) } : {}),
    });
    const workerChaos = pool
      ? new WorkerChaos(
          {
            ec2: ec2Sim,
            workerTagKey: `${tagKeyPrefix}Worker`,
            orderTagPrefix: `${tagKeyPrefix}${orderTagInfix}`,
            running: (id) => workers?.crunchRun.running(id) ?? [],
            ranOn: (id) => workers?.crunchRun.ranOn(id) === true,
          },
          { ...defaultWorkerChaosSettings(options.chaosMs, tickMs), ...options.workerChaos },
          options.seed,
        )
      : undefined;
    const lateTags = workerChaos === undefined ? undefined : new LateTags(workerChaos.tagDelayMs);
    const workers: LocalWorkers | undefined =
      pool && workerChaos !== undefined && lateTags !== undefined
        ? await startLocalWorkers({
            ec2: ec2Sim,
            ec2Url: services.ec2Endpoint,
            token: services.arvadosToken,
            plan: (uuid) => workloadPlayer.get(uuid),
            defaultRuntimeMs: 1_000,
            // EC2's realistic boot, scaled by the tick.
            bootDelayMs: localBootDelayMs(undefined, tickMs),
            stateDir,
            lockOf: (uuid) => arvadosSim.getContainer(uuid)?.lock_count,
            neverBoots: workerChaos.neverBoots,
            imdsView: (i) => lateTags.view(i),
          })
        : undefined;
    if (workers !== undefined) stops.push(() => workers.stop());
    // EC2 reclaiming spot instances (the workload marks which), its warning on the local clock.
    const reclaimer = new SpotReclaimer({
      ec2: ec2Sim,
      arvados: arvadosSim,
      tagKeyPrefix,
      region: services.region,
      interruptAfterMs: (uuid) =>
        options.spotReclaims === false ? undefined : workloadPlayer.get(uuid)?.spotInterruptionAfterMs,
      warningMs: 2 * tickMs,
      publish: (event) => running.events.publish(event),
      ...(workers === undefined ? {} : { containersOn: (id: string) => workers.crunchRun.running(id) }),
    });
    const providerTypes = [...new Set(Object.values(config.InstanceTypes).map((t) => t.ProviderType))];
    const subnets = config.Containers.CloudVMs.DriverParameters.SubnetID;
    const driver = new ChaosDriver(
      {
        arvados: arvadosSim,
        ec2: ec2Sim,
        dynamodb: dynamodbProxy,
        pump: pumpChaos,
        sqs: sqsChaos,
        crashPoints,
        functions: plumbing.functions,
        updateTwin,
        instanceTypes: [providerTypes[0] ?? "m5.large", ...providerTypes.slice(1)],
        subnets: [subnets[0] ?? "subnet-default", ...subnets.slice(1)],
        region: services.region,
      },
      chaosSettings,
      forkRandom(options.seed, "chaos"),
    );
    const ledger = new InstanceLedger(ec2Sim, `${tagKeyPrefix}ContainerUUID`, `${tagKeyPrefix}Worker`);
    const store = new QueueStore(services.ddb, services.tableName);

    out.write(
      `Soak: ${planned.length} containers, ${workerMode} mode, seed ${options.seed}, faults for ${(options.chaosMs / 1000).toFixed(0)} s, limit ${(options.timeLimitMs / 1000).toFixed(0)} s; logs in ${logDir}\n`,
    );
    workloadPlayer.submitDue();
    plumbing.start();
    crunchRun.start();
    reclaimer.start();
    driver.start(startedAt);
    workerChaos?.start();

    let converged = false;
    let lastProgress = startedAt;
    try {
      for (;;) {
        await sleep(1_000);
        const now = Date.now();
        workloadPlayer.submitDue(now);
        ledger.observe();
        const states = containerStates(arvadosSim, workloadPlayer);
        if (now - lastProgress >= (options.progressEveryMs ?? 10_000)) {
          lastProgress = now;
          out.write(progressLine(now - startedAt, driver.calm, workloadPlayer, states, ledger));
        }
        const ended = (states.Complete ?? 0) + (states.Cancelled ?? 0) === workloadPlayer.total;
        if (driver.calm && workerChaos?.calm !== false && workloadPlayer.done && ended && ledger.live() === 0) {
          const { entries } = await store.scan(1);
          if (
            ![...entries.values()].some(
              (e) => isFinalState(e.container.state) || workloadPlayer.get(e.container.uuid) !== undefined,
            )
          ) {
            converged = true;
            break;
          }
        }
        if (now - startedAt > options.timeLimitMs) break;
      }
    } finally {
      crunchRun.stop();
      reclaimer.stop();
      workerChaos?.stop();
      await driver.stop();
    }
    const durationMs = Date.now() - startedAt;
    ledger.observe();
    // Read before the workers stop: stopping ends every crunch-run still running.
    const crunchRuns = workers?.crunchRun.history() ?? [];
    const agentLives = workers?.agents.history() ?? [];
    const recordsEndAt = Date.now();
    // A crunch-run that vanished with its instance left its container Running on no worker.
    const lostWithInstance = new Set(crunchRuns.filter((r) => r.end === "vanished").map((r) => r.uuid));

    const containers: FinalContainer[] = workloadPlayer.submitted.map((s) => {
      const c = arvadosSim.getContainer(s.uuid);
      const error = c?.runtime_status?.error;
      return {
        uuid: s.uuid,
        label: s.label,
        state: c?.state ?? "missing",
        ...(typeof error === "string" ? { runtimeError: error } : {}),
        lockCount: c?.lock_count ?? 0,
        unsatisfiable: s.label.startsWith(unsatisfiablePrefix),
        spotReclaimed: reclaimer.warnedContainers.has(s.uuid),
        ...(lostWithInstance.has(s.uuid) ? { instanceLost: true } : {}),
      };
    });
    const { entries } = await store.scan(1);
    checkLogs(tokenScan, logDir);
    const invariants = [
      ...checkInvariants({
        containers,
        instances: ledger.all(),
        queueEntries: new Set(entries.keys()),
        maxDispatchAttempts: config.Containers.MaxDispatchAttempts,
        unsatisfiableError,
        tokenScan,
      }),
      ...(pool
        ? checkWorkerInvariants({
            crunchRuns,
            agents: agentLives,
            idleLimitMs: idleLimitMs({
              timeoutIdleMs,
              agentPollMs: workerAgentDefaults.pollSeconds * 1000,
              sweepMs: tickMs,
            }),
            endedAt: recordsEndAt,
          })
        : []),
    ];
    writeFinalState(join(stateDir, "final-state.json"), containers, ledger, arvadosSim, startedAt);
    const calmAtMs = driver.calmAtMs ?? options.chaosMs;
    const functions: Record<string, FunctionStats> = {};
    for (const f of plumbing.functions.values()) functions[f.name] = { ...f.stats };
    functions["update-queue (overlapping twin)"] = { ...updateTwin.stats };
    const ec2Stats = ec2Sim.stats();
    return {
      seed: options.seed,
      containers: planned.length,
      unsatisfiable: planned.filter((p) => p.label.startsWith(unsatisfiablePrefix)).length,
      converged,
      durationMs,
      calmAtMs,
      ...(converged ? { convergedAfterCalmMs: durationMs - calmAtMs } : {}),
      invariants,
      faults: {
        ...driver.stats,
        dynamodb: { ...dynamodbProxy.injected },
        crashPoints: { ...crashPoints.fired },
        environmentsKilled: crashPoints.environmentsKilled,
        crashesMissed: crashPoints.missed,
        ec2Throttled: ec2Stats.throttled,
        stream: { redelivered: plumbing.pump.stats.redelivered, reordered: plumbing.pump.stats.reordered },
        sqs: [...(services.sqs?.stats.values() ?? [])].reduce(
          (sum, q) => ({ lost: sum.lost + q.lost, duplicated: sum.duplicated + q.duplicated, late: sum.late + q.late }),
          { lost: 0, duplicated: 0, late: 0 },
        ),
        spot: { ...reclaimer.stats },
        ec2ListingLagMs,
      },
      launches: {
        instancesCreated: Math.max(ledger.size, ec2Stats.instancesLaunched),
        runInstancesCalls: ec2Stats.runInstancesCalls,
        runInstancesErrors: { ...ledger.runInstancesErrors },
        longestLaunchGapMs: ledger.longestLaunchGapMs(startedAt),
        intentRepeats: intentRepeats(join(logDir, "launch.log")),
      },
      functions,
      pump: { ...plumbing.pump.stats },
      streamRecordsGivenUp: plumbing.streamFailures.records,
      logDir,
      workerMode,
      ...(workers === undefined || workerChaos === undefined
        ? {}
        : {
            workers: {
              ...workers.stats(),
              faults: { ...workerChaos.stats, tagsLate: lateTags?.delayed ?? 0 },
              timeoutIdleMs,
            },
          }),
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}
