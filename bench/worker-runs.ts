/**
 * The workers benchmark's end-to-end runs (issue #18 point 6): a short-step scatter and a mixed
 * workload played through `npm start`'s machinery (runLocal: the built functions, DynamoDB Local,
 * the Arvados and EC2 simulators, the real worker agent under `sh`), once in pool mode and once
 * one instance per container, with the same boots, runtimes and idle timeout. Prints instances
 * booted, instance-seconds (the EC2 bill's proxy: EC2 bills from `running` to `shutting-down`),
 * makespan and queued → running latency. Figures only: nothing here asserts.
 *
 * Time is local: a tick (`tickMs`) is EC2's minute, the boot is upstream-realistic 90 s of EC2
 * time scaled by it, TimeoutIdle one tick; instance-seconds are also shown in EC2 time.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ArvadosSimulator } from "../local/arvados-sim/simulator.js";
import type { Ec2Simulator } from "../local/ec2-sim/simulator.js";
import { defaultConfigPath, writeLocalConfig } from "../local/runner/local-config.js";
import { runLocal } from "../local/runner/run-local.js";
import type { RunSummary } from "../local/runner/summary.js";
import { loadWorkload, parseWorkload, type Workload } from "../local/workload.js";
import { fixed, note, printTable, type Services } from "./harness.js";

/** Local length of EC2's minute. */
const tickMs = Number(process.env.BENCH_WORKERS_TICK_MS ?? 10_000);
/** The scatter: waves of one-VCPU steps, each wave submitted when the one before it has ended. */
const waves = Number(process.env.BENCH_WORKERS_WAVES ?? 4);
const perWave = Number(process.env.BENCH_WORKERS_PER_WAVE ?? 60);
/** A short step: two minutes of EC2 time. */
const stepSeconds = (2 * tickMs) / 1000;

const modes = ["pool", "per-container"] as const;
type Mode = (typeof modes)[number];

/** What one run measured, in local seconds unless named otherwise. */
export interface WorkerRunOutcome {
  mode: Mode;
  containers: number;
  complete: number;
  instancesBooted: number;
  instanceSeconds: number;
  makespanSeconds: number;
  latency: { median: number; p90: number; max: number };
  finished: boolean;
  stopReason?: string;
}

/** The short-step scatter: `waves` waves of `perWave` one-VCPU, 1 GiB steps of `stepSeconds`. */
export function scatterWorkload(): Workload {
  return parseWorkload({
    description: `short-step scatter: ${waves} waves of ${perWave} one-VCPU steps`,
    runtimeSeconds: stepSeconds,
    containers: Array.from({ length: waves }, (_, w) => ({
      name: `wave-${w + 1}`,
      count: perWave,
      ram: "1GiB",
      vcpus: 1,
      ...(w === 0 ? {} : { after: `wave-${w}` }),
    })),
  });
}

const quantile = (sorted: readonly number[], q: number) =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);

/** Reads the simulators at the end of a run: the EC2 bill's time and each container's timestamps. */
export function measureRun(
  mode: Mode,
  summary: RunSummary,
  arvados: ArvadosSimulator,
  ec2: Ec2Simulator,
  tagKeyPrefix: string,
): WorkerRunOutcome {
  const ours = ec2
    .instances()
    .filter((i) => i.tags[`${tagKeyPrefix}ContainerUUID`] !== undefined || i.tags[`${tagKeyPrefix}Worker`] === "pool");
  const billed = ours.map((i) => ec2.billedMs(i.instanceId));
  const records = summary.containers.flatMap((c) => {
    const r = arvados.getContainer(c.uuid);
    return r === undefined ? [] : [r];
  });
  const ms = (iso: string | null | undefined) => (iso === null || iso === undefined ? undefined : Date.parse(iso));
  const created = records.map((r) => ms(r.created_at) ?? 0);
  const finished = records.flatMap((r) =>
    r.finished_at === null || r.finished_at === undefined ? [] : [ms(r.finished_at) ?? 0],
  );
  const latencies = records
    .flatMap((r) =>
      r.started_at === null || r.started_at === undefined
        ? []
        : [((ms(r.started_at) ?? 0) - (ms(r.created_at) ?? 0)) / 1000],
    )
    .sort((a, b) => a - b);
  return {
    mode,
    containers: records.length,
    complete: records.filter((r) => r.state === "Complete").length,
    instancesBooted: billed.filter((b) => b > 0).length,
    instanceSeconds: billed.reduce((a, b) => a + b, 0) / 1000,
    makespanSeconds: finished.length === 0 ? 0 : (Math.max(...finished) - Math.min(...created)) / 1000,
    latency: { median: quantile(latencies, 0.5), p90: quantile(latencies, 0.9), max: latencies.at(-1) ?? 0 },
    finished: summary.finished,
    ...(summary.stopReason === undefined ? {} : { stopReason: summary.stopReason }),
  };
}

const discard = { write: () => true, isTTY: false, columns: 80 };

async function runMode(
  services: Services,
  workload: Workload,
  mode: Mode,
  stateDir: string,
): Promise<WorkerRunOutcome> {
  // TimeoutIdle one local minute, as upstream's default is one minute; PollInterval as the runner's.
  const configPath = writeLocalConfig(defaultConfigPath, join(stateDir, mode), "2s", {
    TimeoutIdle: `${tickMs / 1000}s`,
    MaxInstances: 2 * perWave,
  });
  let outcome: WorkerRunOutcome | undefined;
  await runLocal({
    workload,
    workerMode: mode,
    configPath,
    tickMs,
    headless: true,
    out: discard,
    timeoutMs: 30 * 60_000,
    stateDir: join(stateDir, mode),
    dynamodbEndpoint: services.dynamoDbEndpoint(),
    inspect: (s, summary) => {
      if (s.arvadosSim === undefined || s.ec2Sim === undefined)
        throw new Error("the workers bench needs the simulators");
      outcome = measureRun(mode, summary, s.arvadosSim, s.ec2Sim, "Arvados");
    },
  });
  if (outcome === undefined) throw new Error(`the ${mode} run measured nothing`);
  return outcome;
}

function printComparison(title: string, outcomes: readonly WorkerRunOutcome[]): void {
  const pool = outcomes.find((o) => o.mode === "pool");
  const per = outcomes.find((o) => o.mode === "per-container");
  const ec2Minutes = (s: number) => (s * 60_000) / tickMs / 3600;
  printTable(
    title,
    [
      "mode",
      "Complete",
      "instances booted",
      "instance-s (local)",
      "instance-hours (EC2 time)",
      "makespan s",
      "queued→running s median / p90 / max",
    ],
    outcomes.map((o) => [
      o.mode + (o.finished ? "" : ` (${o.stopReason ?? "unfinished"})`),
      `${o.complete}/${o.containers}`,
      o.instancesBooted,
      fixed(o.instanceSeconds),
      fixed(ec2Minutes(o.instanceSeconds), 2),
      fixed(o.makespanSeconds),
      `${fixed(o.latency.median)} / ${fixed(o.latency.p90)} / ${fixed(o.latency.max)}`,
    ]),
  );
  if (pool !== undefined && per !== undefined && per.instancesBooted > 0 && per.instanceSeconds > 0)
    note(
      `pool / per-container: instances ${fixed(pool.instancesBooted / per.instancesBooted, 2)} (${pool.instancesBooted} for ${pool.containers} containers), instance-seconds ${fixed((100 * pool.instanceSeconds) / per.instanceSeconds, 0)} %, makespan ${fixed((100 * pool.makespanSeconds) / Math.max(1e-9, per.makespanSeconds), 0)} %`,
    );
}

/** Runs the scatter and the mixed workload in both modes and prints the comparisons. */
export async function runWorkerComparisons(services: Services): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), "bench-workers-"));
  try {
    const scatter: WorkerRunOutcome[] = [];
    for (const mode of modes) scatter.push(await runMode(services, scatterWorkload(), mode, stateDir));
    printComparison(
      `workers scatter: ${waves} waves × ${perWave} one-VCPU steps of ${stepSeconds} s (2 EC2 minutes), each wave after the last; tick ${tickMs / 1000} s = EC2's minute`,
      scatter,
    );
    const mixed: WorkerRunOutcome[] = [];
    for (const mode of modes) mixed.push(await runMode(services, loadWorkload(), mode, stateDir));
    printComparison(
      "workers mixed: local/workload.json (37 containers of varied sizes, GPU, spot, a supervisor)",
      mixed,
    );
    note(
      [
        `Boot: 90 s of EC2 time scaled by the tick (${fixed((90 * tickMs) / 60_000)} s local) in both modes; TimeoutIdle ${tickMs / 1000} s local (upstream's 1 minute); the agent polls IMDS every 5 s.`,
        "instance-s: Σ over our instances of EC2's billed time (running → shutting-down), from the EC2 simulator's state history; EC2 time = local × 60 s / tick.",
        "queued→running: the container's created_at to started_at in the Arvados simulator (crunch-run's first state change).",
      ].join("\n"),
    );
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}
