/**
 * cost: what the dispatcher costs to run, from what it does. Runs the whole local dispatcher
 * (`npm start`'s runner, the built handlers) three times: idle, busy with a steady queue (a few
 * long containers running), and a churning workload (the default local/workload.json). From
 * each function's invocations and Billed Duration (per trigger, as its REPORT lines say), the
 * DynamoDB capacity each function consumed (DynamoDB's ReturnConsumedCapacity figures, through a
 * meter in front of DynamoDB Local) and the SQS messages, it prices a month of an idle and of an
 * always-busy cluster at PollInterval 10 s with AWS's one-minute schedules, and the work that
 * comes with each container, per 10,000. EC2 instances, CloudWatch (logs, metrics, alarms) and
 * data transfer are left out. Figures only: nothing asserts.
 */
import { loadavg } from "node:os";
import { Writable } from "node:stream";
import type { DynamoDbUsage } from "../local/dynamodb-meter-proxy.js";
import { DynamoDbMeterProxy } from "../local/dynamodb-meter-proxy.js";
import type { FunctionStats, TriggerKind } from "../local/runner/function-host.js";
import { runLocal } from "../local/runner/run-local.js";
import { readServerlessSpec } from "../local/runner/serverless-mappings.js";
import type { Services as RunnerServices } from "../local/runner/services.js";
import { formatBilling } from "../local/runner/summary.js";
import { loadWorkload, type Workload } from "../local/workload.js";
import {
  type BillLine,
  billLine,
  type MeasuredFunction,
  monthOfTime,
  sqsRequestsPerMessage,
  total,
  type UnitCost,
  unitCost,
} from "./cost/model.js";
import { prices } from "./cost/prices.js";
import { type Benchmark, fixed, note, printTable, type Services } from "./harness.js";

/** The PollInterval the bills are for. */
const pollIntervalSeconds = Number(process.env.BENCH_COST_POLL_INTERVAL ?? 10);
/** Length of the measured part of the idle and steady runs, after their warm-up. */
const windowMs = Number(process.env.BENCH_COST_WINDOW_SECONDS ?? 40) * 1000;

/** What a run measured over a window: per function, its counters and DynamoDB units; SQS messages sent per queue. */
interface Window {
  label: string;
  elapsedMs: number;
  functions: MeasuredFunction[];
  sqsSent: Record<string, number>;
  /** launch's wake-up messages sent (each relayed by one update-queue invocation). */
  wakesSent: number;
  containers: number;
  /** The machine's one-minute load average at the window's end: Lambda time here grows with it. */
  load: number;
}

const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
const zeroUsage = (): DynamoDbUsage => ({
  requests: 0,
  readCapacityUnits: 0,
  writeCapacityUnits: 0,
  conditionalCheckFailures: 0,
});
const zeroStats = (): FunctionStats => ({
  invocations: 0,
  errors: 0,
  coldStarts: 0,
  timeouts: 0,
  running: 0,
  billedMs: 0,
  byTrigger: {},
});

function minusStats(a: FunctionStats, b: FunctionStats): FunctionStats {
  const byTrigger: FunctionStats["byTrigger"] = {};
  for (const [k, t] of Object.entries(a.byTrigger) as [TriggerKind, { invocations: number; billedMs: number }][]) {
    const before = b.byTrigger[k] ?? { invocations: 0, billedMs: 0 };
    if (t.invocations - before.invocations > 0)
      byTrigger[k] = { invocations: t.invocations - before.invocations, billedMs: t.billedMs - before.billedMs };
  }
  return { ...a, invocations: a.invocations - b.invocations, billedMs: a.billedMs - b.billedMs, byTrigger };
}

function minusUsage(a: DynamoDbUsage, b: DynamoDbUsage): DynamoDbUsage {
  return {
    requests: a.requests - b.requests,
    readCapacityUnits: a.readCapacityUnits - b.readCapacityUnits,
    writeCapacityUnits: a.writeCapacityUnits - b.writeCapacityUnits,
    conditionalCheckFailures: a.conditionalCheckFailures - b.conditionalCheckFailures,
  };
}

/**
 * One local run with a DynamoDB meter between the functions and DynamoDB Local, measured after
 * `warmUpMs` (the first poll, the chain's start and the cold starts are not what a month is made of).
 */
async function measure(
  label: string,
  services: Services,
  workload: Workload,
  warmUpMs: number,
  timeoutMs: number,
): Promise<Window> {
  const spec = readServerlessSpec();
  let meter: DynamoDbMeterProxy | undefined;
  let runner: RunnerServices | undefined;
  const snapshot = () => ({
    stats: new Map<string, FunctionStats>(),
    usage: new Map([...(meter?.usage ?? [])].map(([k, v]) => [k, { ...v }])),
    sqs: Object.fromEntries([...(runner?.sqs?.stats ?? [])].map(([q, s]) => [q, s.sent])),
    // launch's wake-ups share the tick queue: counted by the kind of message.
    wakes: [...(runner?.sqs?.stats.values() ?? [])].reduce((n, s) => n + (s.sentByKind["launch-wake"] ?? 0), 0),
    atMs: 0,
  });
  let start = snapshot();
  let end = snapshot();
  let started = warmUpMs === 0;
  const summary = await runLocal({
    workload,
    headless: true,
    timeoutMs,
    out: discard,
    dynamodbEndpoint: services.dynamoDbEndpoint(),
    functionServices: async (s) => {
      runner = s;
      meter = new DynamoDbMeterProxy(s.dynamodbEndpoint ?? "");
      return { ...s, dynamodbEndpoint: await meter.start() };
    },
    onSample: (elapsedMs, functions) => {
      const now = {
        ...snapshot(),
        stats: new Map([...functions].map(([k, v]) => [k, structuredClone(v)])),
        atMs: elapsedMs,
      };
      if (!started && elapsedMs >= warmUpMs) {
        started = true;
        start = now;
      }
      end = now;
    },
  });
  await meter?.stop();
  return {
    label,
    elapsedMs: end.atMs - start.atMs,
    containers: summary.containers.length,
    sqsSent: Object.fromEntries(Object.entries(end.sqs).map(([q, n]) => [q, n - (start.sqs[q] ?? 0)])),
    wakesSent: end.wakes - start.wakes,
    load: loadavg()[0] ?? 0,
    functions: spec.functions.map((f) => ({
      name: f.name,
      memoryMb: f.memoryMb,
      stats: minusStats(end.stats.get(f.name) ?? zeroStats(), start.stats.get(f.name) ?? zeroStats()),
      dynamodb: minusUsage(end.usage.get(f.name) ?? zeroUsage(), start.usage.get(f.name) ?? zeroUsage()),
    })),
  };
}

function measuredRows(w: Window): (string | number)[][] {
  return w.functions.flatMap((f) =>
    Object.entries(f.stats.byTrigger).map(([trigger, t]) => {
      const unit = unitCost(f, trigger as TriggerKind);
      return [
        `${f.name} (${trigger})`,
        t.invocations,
        fixed(t.billedMs / 1000, 1),
        fixed(unit?.billedMs, 0),
        fixed(unit?.rru, 1),
        fixed(unit?.wru, 1),
      ];
    }),
  );
}

function billRows(lines: readonly BillLine[]): (string | number)[][] {
  const money = (n: number, d = 3) => `$${fixed(n, d)}`;
  const rows = lines.map((l) => [
    l.what,
    Math.round(l.invocations),
    money(l.lambda),
    money(l.dynamodb),
    money(l.sqs),
    money(l.lambda + l.dynamodb + l.sqs),
  ]);
  const sum = (k: "lambda" | "dynamodb" | "sqs") => lines.reduce((s, l) => s + l[k], 0);
  rows.push([
    "total",
    Math.round(lines.reduce((s, l) => s + l.invocations, 0)),
    money(sum("lambda"), 2),
    money(sum("dynamodb"), 2),
    money(sum("sqs"), 2),
    money(total(lines), 2),
  ]);
  return rows;
}

/** The time-driven triggers: update-queue's ticks and watchdog, the launch sweep, cleanup's schedule. */
const timeDriven: { fn: string; trigger: TriggerKind; key: "tick" | "watchdog" | "launchSweep" | "cleanup" }[] = [
  { fn: "update-queue", trigger: "sqs", key: "tick" },
  { fn: "update-queue", trigger: "schedule", key: "watchdog" },
  { fn: "launch", trigger: "schedule", key: "launchSweep" },
  { fn: "cleanup", trigger: "schedule", key: "cleanup" },
];

function timeCosts(w: Window): Partial<Record<(typeof timeDriven)[number]["key"], UnitCost>> {
  const out: Partial<Record<(typeof timeDriven)[number]["key"], UnitCost>> = {};
  for (const { fn, trigger, key } of timeDriven) {
    const f = w.functions.find((x) => x.name === fn);
    const unit = f === undefined ? undefined : unitCost(f, trigger);
    if (unit !== undefined) out[key] = unit;
  }
  return out;
}

/**
 * What a churning run cost beyond its time-driven invocations priced at the steady run's unit
 * costs: the work its containers brought (type choice, stream- and wake-triggered launch
 * passes, cleanup's spot events, the writes of every state change), per 10,000 containers.
 */
function perTenThousand(churn: Window, steady: Window): BillLine[] {
  const scale = 10_000 / Math.max(1, churn.containers);
  const steadyCosts = timeCosts(steady);
  const lines: BillLine[] = [];
  for (const f of churn.functions) {
    if (f.name === "dispatch-api") continue; // the runner's display, not the dispatcher's work
    let billedMs = f.stats.billedMs;
    let rru = f.dynamodb.readCapacityUnits;
    let wru = f.dynamodb.writeCapacityUnits;
    let containerInvocations = f.stats.invocations;
    for (const { fn, trigger, key } of timeDriven) {
      if (fn !== f.name) continue;
      let n = f.stats.byTrigger[trigger]?.invocations ?? 0;
      // update-queue's SQS invocations are ticks and the relays of launch's wake-ups: the relays
      // are per-container work (billed at the ticks' average, which is higher than a relay's).
      if (key === "tick") n = Math.max(0, n - churn.wakesSent);
      const unit = steadyCosts[key];
      containerInvocations -= n;
      if (unit === undefined) continue;
      billedMs -= n * unit.billedMs;
      rru -= n * unit.rru;
      wru -= n * unit.wru;
    }
    const perContainer = (x: number) => Math.max(0, x) * scale;
    const invocations = Math.max(0, containerInvocations) * scale;
    const unit: UnitCost = {
      billedMs: invocations > 0 ? perContainer(billedMs) / invocations : 0,
      rru: invocations > 0 ? perContainer(rru) / invocations : 0,
      wru: invocations > 0 ? perContainer(wru) / invocations : 0,
      memoryMb: f.memoryMb,
    };
    const line = billLine(`${f.name}`, invocations, unit);
    // Extra time and units of its time-driven runs count too, even with no invocation of its own.
    if (invocations === 0) {
      const gbSeconds = (perContainer(billedMs) / 1000) * (f.memoryMb / 1024);
      line.lambda = gbSeconds * prices.lambdaArmPerGbSecond;
      line.dynamodb = perContainer(rru) * prices.dynamoDbPerReadUnit + perContainer(wru) * prices.dynamoDbPerWriteUnit;
    }
    lines.push(line);
  }
  const wakes = churn.wakesSent * scale;
  lines.push({
    what: "launch wake-up messages",
    invocations: 0,
    lambda: 0,
    dynamodb: 0,
    sqs: wakes * sqsRequestsPerMessage * prices.sqsPerRequest,
  });
  return lines;
}

async function run(services: Services): Promise<void> {
  const base = loadWorkload();
  const template = base.containers[1] ?? base.containers[0];
  if (template === undefined) throw new Error("the default workload has no container");
  const one = (name: string, fields: Partial<Workload["containers"][number]>) =>
    ({ ...template, name, ...fields }) as Workload["containers"][number];
  const idleWorkload: Workload = {
    ...base,
    ec2Faults: [],
    containers: [one("in-an-hour", { count: 1, submitAfterSeconds: 3600 })],
  };
  const steadyWorkload: Workload = {
    ...base,
    ec2Faults: [],
    containers: [one("long", { count: 5, runtimeSeconds: 3600 })],
  };
  const idle = await measure("idle", services, idleWorkload, 15_000, 15_000 + windowMs);
  const steady = await measure(
    "busy, steady (5 containers running)",
    services,
    steadyWorkload,
    25_000,
    25_000 + windowMs,
  );
  const churn = await measure("churn (local/workload.json)", services, base, 0, 4 * 60_000);
  const polled = new Set(readServerlessSpec().functions.flatMap((f) => f.sqs.map((m) => m.queue))).size;

  for (const w of [idle, steady, churn]) {
    printTable(
      `cost: measured, ${w.label}: ${fixed(w.elapsedMs / 1000, 1)} s${w.label.startsWith("churn") ? `, ${w.containers} containers` : " after a warm-up"} (PollInterval 2 s, schedules every 5 s)`,
      [
        "function (trigger)",
        "invocations",
        "billed s",
        "billed ms / invocation",
        "RRU / invocation",
        "WRU / invocation",
      ],
      measuredRows(w),
    );
    note(formatBilling(Object.fromEntries(w.functions.map((f) => [f.name, f.stats])), w.elapsedMs));
    note(
      `Load average (1 min) at the end of this run: ${fixed(w.load, 1)}: Lambda times here grow with it (DynamoDB units and SQS requests do not).`,
    );
  }

  const header = ["a month of", "invocations", "Lambda", "DynamoDB", "SQS", "total"];
  const minutes = 30 * 24 * 60;
  printTable(
    `cost: an idle cluster, a month (30 days) at PollInterval ${pollIntervalSeconds} s`,
    header,
    billRows(monthOfTime(timeCosts(idle), pollIntervalSeconds, polled)),
  );
  note(`EventBridge: ${3 * minutes} scheduled-rule events a month, $${prices.eventBridgeScheduledEvent} each.`);
  printTable(
    `cost: an always-busy cluster (something queued or running at all times), a month at PollInterval ${pollIntervalSeconds} s, before the per-container work`,
    header,
    billRows(monthOfTime(timeCosts(steady), pollIntervalSeconds, polled)),
  );
  printTable(
    `cost: per 10,000 containers (the work that comes with them), on top of the month`,
    header,
    billRows(perTenThousand(churn, steady)),
  );
  note(
    [
      `Prices: ${prices.region}, ${prices.asOf} (bench/cost/prices.ts): Lambda arm64 $${prices.lambdaArmPerGbSecond} per GB-s and $0.20 per million requests; DynamoDB on-demand $0.625 per million WRU, $0.125 per million RRU; SQS $0.40 per million requests. No free tier.`,
      "Time per invocation is this machine's (2 shared cores, DynamoDB Local, the simulators); DynamoDB units and SQS requests do not depend on the machine.",
      "Per-container work is the churn run's total less its time-driven invocations at the steady run's unit costs.",
      "Left out: EC2 instances, CloudWatch Logs and metrics, data transfer, storage.",
    ].join("\n"),
  );
}

export const cost: Benchmark = {
  name: "cost",
  title: "the monthly bill of an idle and an always-busy cluster, and per 10,000 containers",
  needsDynamoDb: true,
  run,
};
