/**
 * The end of a local run: per-container outcome, and the queued → RunInstances latency, measured
 * from the outside (the container's created_at in the Arvados simulator to the launch time of
 * its first instance in the EC2 simulator), as p50/p99.
 */
import { orderTagInfix, parseUserDataAssignments, userDataAssignmentMarker } from "../../lib/cloud/worker-channel.js";
import type { SimInstance } from "../ec2-sim/index.js";
import type { FunctionStats } from "./function-host.js";
import type { ProgressSnapshot } from "./progress.js";
import type { ScheduleStats } from "./schedules.js";
import type { SqsQueueStats } from "./sqs-local.js";

/**
 * The p-th percentile (0 < p ≤ 100) of `values` by the nearest-rank method: the smallest value
 * with at least p% of the values at or below it. Undefined for no values.
 */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile ${p} is not in (0, 100]`);
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil((p / 100) * sorted.length) - 1];
}

/** Latency figures in ms. */
export interface LatencyStats {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** p50, p99 and max of `samples`, or undefined when there are none. */
export function latencyStats(samples: readonly number[]): LatencyStats | undefined {
  const p50 = percentile(samples, 50);
  const p99 = percentile(samples, 99);
  if (p50 === undefined || p99 === undefined) return undefined;
  return { count: samples.length, p50Ms: p50, p99Ms: p99, maxMs: Math.max(...samples) };
}

/**
 * Queued → RunInstances latency of each container that got an instance: its created_at to the
 * launch time of the first instance tagged with its uuid (`tagKey`).
 */
export function queuedToLaunchLatencies(
  containers: readonly { uuid: string; createdAt: string }[],
  instances: readonly SimInstance[],
  tagKey: string,
  /** Pool mode: when each container was first given to a worker (user data or order tag). */
  workerAssignments: ReadonlyMap<string, number> = new Map(),
): number[] {
  const firstLaunch = new Map<string, number>(workerAssignments);
  for (const i of instances) {
    const uuid = i.tags[tagKey];
    if (uuid !== undefined && !(i.launchTime >= (firstLaunch.get(uuid) ?? Number.POSITIVE_INFINITY)))
      firstLaunch.set(uuid, i.launchTime);
  }
  return containers.flatMap((c) => {
    const launched = firstLaunch.get(c.uuid);
    return launched === undefined ? [] : [launched - Date.parse(c.createdAt)];
  });
}

/**
 * When each container was first given to a pool worker: the launch time of the instance whose
 * user data line (by its launch index) names it, or the time of the CreateTags call that ordered
 * it (`<prefix>Container:<uuid>` = `run:…`) on a worker that already existed.
 */
export function workerAssignmentTimes(
  instances: readonly SimInstance[],
  tagCalls: readonly { params: Record<string, string>; at?: number }[],
  tagKeyPrefix: string,
): Map<string, number> {
  const first = new Map<string, number>();
  const note = (uuid: string, at: number) => {
    if (!(at >= (first.get(uuid) ?? Number.POSITIVE_INFINITY))) first.set(uuid, at);
  };
  for (const i of instances) {
    if (i.userData === undefined || !i.userData.includes(userDataAssignmentMarker)) continue;
    for (const a of parseUserDataAssignments(i.userData, i.amiLaunchIndex ?? 0)) note(a.containerUuid, i.launchTime);
  }
  const orderKey = `${tagKeyPrefix}${orderTagInfix}`;
  for (const call of tagCalls) {
    if (call.at === undefined) continue;
    for (const [key, value] of Object.entries(call.params))
      if (/^Tag\.\d+\.Key$/.test(key) && value.startsWith(orderKey)) {
        const valueKey = key.replace(/Key$/, "Value");
        if ((call.params[valueKey] ?? "").startsWith("run:")) note(value.slice(orderKey.length), call.at);
      }
  }
  return first;
}

/** One container's outcome. */
export interface ContainerOutcome {
  label: string;
  uuid: string;
  state: string;
  instanceType?: string;
  /** Instances RunInstances created for it. */
  instances: number;
  /** runtime_status.error of a Cancelled container. */
  reason?: string;
}

/** What a local run did. */
export interface RunSummary {
  /** Every workload container ended (Complete or Cancelled) and no instance is left running. */
  finished: boolean;
  /** Why the run ended without finishing (timeout, interrupted). */
  stopReason?: string;
  elapsedMs: number;
  containers: ContainerOutcome[];
  instancesLaunched: number;
  instancesByState: Record<string, number>;
  /** Queue table entries of finished workload containers still present at the end. */
  finishedEntriesLeft: number;
  runInstancesErrors: Record<string, number>;
  /** Spot interruption warnings sent, and instances EC2 had to reclaim itself at the end of one. */
  spotInterruptions: { warned: number; reclaimed: number };
  latency?: LatencyStats;
  /** Records sent to the stream mappings' on-failure destination. */
  streamFailures: number;
  /** Invocations that failed, per function. */
  functionErrors: Record<string, number>;
  logDir: string;
  /** Each function's invocations and Billed Duration (its REPORT lines), by trigger. */
  functions?: Record<string, FunctionStats>;
  /** What each schedule fired. */
  schedules?: Record<string, ScheduleStats>;
  /** serverless.yml's SQS queues: messages sent, delivered, lost… */
  sqs?: Record<string, SqsQueueStats>;
}

/**
 * The functions that the local run's own display calls (the dispatch API, which Workbench or an
 * operator would call in AWS): their bill is shown apart from the dispatcher's.
 */
export const displayFunctions = new Set(["dispatch-api"]);

/** "Billed: update-queue 1.2 s (3.4 %), …": each function's Billed Duration as a share of `wallMs`. */
export function formatBilling(functions: Record<string, FunctionStats>, wallMs: number): string {
  const share = (ms: number) => `${((100 * ms) / wallMs).toFixed(1)} %`;
  const dispatcher = Object.entries(functions).filter(([name]) => !displayFunctions.has(name));
  const total = dispatcher.reduce((sum, [, f]) => sum + f.billedMs, 0);
  const parts = Object.entries(functions).map(
    ([name, f]) =>
      `${name} ${f.invocations} invocations, ${seconds(f.billedMs)} (${share(f.billedMs)})${displayFunctions.has(name) ? " [the display's requests]" : ""}`,
  );
  return `Billed Duration (REPORT lines) over ${seconds(wallMs)}: ${parts.join("; ")}. The dispatcher's functions together: ${seconds(total)}, ${share(total)} of the wall time.`;
}

/** The per-container part of a summary, from the last progress sample. */
export function containerOutcomes(snapshot: ProgressSnapshot): ContainerOutcome[] {
  return [...snapshot.containers]
    .sort((a, b) => a.label.localeCompare(b.label, undefined, { numeric: true }))
    .map((c) => ({
      label: c.label,
      uuid: c.uuid,
      state: c.state,
      ...(c.instanceType === undefined ? {} : { instanceType: c.instanceType }),
      instances: c.instanceIds.length,
      ...(c.state === "Cancelled" && c.runtimeError !== undefined ? { reason: c.runtimeError } : {}),
    }));
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/** The summary as the terminal shows it: a table, then the totals. */
export function formatSummary(s: RunSummary): string {
  const rows = s.containers.map((c) => [
    c.label,
    c.uuid,
    c.state,
    c.instanceType ?? "-",
    String(c.instances),
    c.reason ?? "",
  ]);
  const header = ["container", "uuid", "state", "type", "instances", "reason"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const states: Record<string, number> = {};
  for (const c of s.containers) states[c.state] = (states[c.state] ?? 0) + 1;
  const count = (record: Record<string, number>) =>
    Object.entries(record)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ") || "none";
  const out = [
    line(header),
    ...rows.map(line),
    "",
    `${s.finished ? "Finished" : `Not finished (${s.stopReason ?? "stopped"})`} after ${seconds(s.elapsedMs)}: ${count(states)}.`,
    `Instances launched: ${s.instancesLaunched} (now ${count(s.instancesByState)}); RunInstances errors: ${count(s.runInstancesErrors)}.`,
    ...(s.spotInterruptions.warned === 0
      ? []
      : [
          `Spot interruption warnings: ${s.spotInterruptions.warned}; instances EC2 reclaimed itself: ${s.spotInterruptions.reclaimed}.`,
        ]),
    s.latency === undefined
      ? "Queued → RunInstances latency: no launches."
      : `Queued → RunInstances latency over ${s.latency.count} containers: p50 ${seconds(s.latency.p50Ms)}, p99 ${seconds(s.latency.p99Ms)}, max ${seconds(s.latency.maxMs)}.`,
    `Queue entries of finished containers left: ${s.finishedEntriesLeft}; stream records given up on: ${s.streamFailures}; failed invocations: ${count(s.functionErrors)}.`,
    ...(s.functions === undefined ? [] : [formatBilling(s.functions, s.elapsedMs)]),
    `Function logs: ${s.logDir}`,
  ];
  return `${out.join("\n")}\n`;
}
