/**
 * cost: what the dispatcher costs to run, from what it does. Runs the whole local dispatcher
 * (`npm start`'s runner, the built handlers) twice, idle and busy, and takes each function's
 * invocations and Billed Duration (its REPORT lines, per trigger), the DynamoDB capacity each
 * function consumed (DynamoDB's own ReturnConsumedCapacity figures, through a meter in front of
 * DynamoDB Local), the SQS messages and the schedules that fired. From the per-invocation
 * averages it prices a month of an idle and of an always-busy cluster at PollInterval 10 s, with
 * AWS's schedules (one minute), and the cost per 10,000 containers. EC2 instances, CloudWatch
 * (logs, metrics, alarms) and data transfer are left out. Figures only: nothing asserts.
 */
import { Writable } from "node:stream";
import { DynamoDbMeterProxy } from "../local/dynamodb-meter-proxy.js";
import type { FunctionStats } from "../local/runner/function-host.js";
import { runLocal } from "../local/runner/run-local.js";
import { readServerlessSpec } from "../local/runner/serverless-mappings.js";
import { formatBilling, type RunSummary } from "../local/runner/summary.js";
import { loadWorkload, type Workload } from "../local/workload.js";
import { type BillLine, billLine, type MeasuredFunction, monthOfTime, sqsRequestsPerMessage, total, unitCost } from "./cost/model.js";
import { prices } from "./cost/prices.js";
import { type Benchmark, fixed, note, printTable, type Services } from "./harness.js";

/** The PollInterval the bills are for. */
const pollIntervalSeconds = Number(process.env.BENCH_COST_POLL_INTERVAL ?? 10);
/** Local length of an idle run. */
const idleRunMs = Number(process.env.BENCH_COST_IDLE_SECONDS ?? 45) * 1000;

interface Measured {
  label: string;
  summary: RunSummary;
  functions: MeasuredFunction[];
  containers: number;
}

const discard = new Writable({ write: (_chunk, _encoding, done) => done() });

/** One local run with a DynamoDB meter between the functions and DynamoDB Local. */
async function measure(label: string, services: Services, workload: Workload, timeoutMs: number): Promise<Measured> {
  const spec = readServerlessSpec();
  let meter: DynamoDbMeterProxy | undefined;
  const summary = await runLocal({
    workload,
    headless: true,
    timeoutMs,
    out: discard,
    dynamodbEndpoint: services.dynamoDbEndpoint(),
    functionServices: async (s) => {
      meter = new DynamoDbMeterProxy(s.dynamodbEndpoint ?? "");
      return { ...s, dynamodbEndpoint: await meter.start() };
    },
  });
  await meter?.stop();
  const functions = spec.functions.map((f): MeasuredFunction => ({
    name: f.name,
    memoryMb: f.memoryMb,
    stats: summary.functions?.[f.name] ?? ({ invocations: 0, errors: 0, coldStarts: 0, timeouts: 0, running: 0, billedMs: 0, byTrigger: {} } as FunctionStats),
    dynamodb: meter?.usage.get(f.name) ?? { requests: 0, readCapacityUnits: 0, writeCapacityUnits: 0, conditionalCheckFailures: 0 },
  }));
  return { label, summary, functions, containers: summary.containers.length };
}

function measuredRows(m: Measured): (string | number)[][] {
  return m.functions.flatMap((f) =>
    Object.entries(f.stats.byTrigger).map(([trigger, t]) => {
      const unit = unitCost(f, trigger as keyof FunctionStats["byTrigger"]);
      return [`${f.name} (${trigger})`, t.invocations, fixed(t.billedMs / 1000, 1), fixed(unit?.billedMs, 0), fixed(unit?.rru, 1), fixed(unit?.wru, 1)];
    }),
  );
}

function billRows(lines: readonly BillLine[]): (string | number)[][] {
  const rows = lines.map((l) => [l.what, Math.round(l.invocations), `$${fixed(l.lambda, 3)}`, `$${fixed(l.dynamodb, 3)}`, `$${fixed(l.sqs, 3)}`, `$${fixed(l.lambda + l.dynamodb + l.sqs, 3)}`]);
  const sum = (k: "lambda" | "dynamodb" | "sqs") => lines.reduce((s, l) => s + l[k], 0);
  rows.push(["total", Math.round(lines.reduce((s, l) => s + l.invocations, 0)), `$${fixed(sum("lambda"), 2)}`, `$${fixed(sum("dynamodb"), 2)}`, `$${fixed(sum("sqs"), 2)}`, `$${fixed(total(lines), 2)}`]);
  return rows;
}

/** The time-driven unit costs of a run: ticks, watchdog, launch sweep, cleanup. */
function timeCosts(m: Measured) {
  const fn = (name: string) => m.functions.find((f) => f.name === name);
  const update = fn("update-queue");
  const launch = fn("launch");
  const cleanup = fn("cleanup");
  return {
    ...(update && unitCost(update, "sqs") ? { tick: unitCost(update, "sqs") } : {}),
    ...(update && unitCost(update, "schedule") ? { watchdog: unitCost(update, "schedule") } : {}),
    ...(launch && unitCost(launch, "schedule") ? { launchSweep: unitCost(launch, "schedule") } : {}),
    ...(cleanup && unitCost(cleanup, "schedule") ? { cleanup: unitCost(cleanup, "schedule") } : {}),
  };
}

/** Work that comes with containers, per 10,000: type choice, stream- and wake-triggered launch passes, their SQS messages. */
function perTenThousand(m: Measured): BillLine[] {
  const scale = 10_000 / Math.max(1, m.containers);
  const lines: BillLine[] = [];
  for (const f of m.functions) {
    for (const trigger of ["stream", "sqs"] as const) {
      if (f.name === "update-queue") continue; // its ticks are time-driven
      const t = f.stats.byTrigger[trigger];
      if (t === undefined) continue;
      const count = t.invocations * scale;
      lines.push(billLine(`${f.name} (${trigger})`, count, unitCost(f, trigger), trigger === "sqs" ? count * sqsRequestsPerMessage : 0));
    }
  }
  return lines;
}

async function run(services: Services): Promise<void> {
  const idleWorkload: Workload = { ...loadWorkload(), ec2Faults: [], containers: [{ ...loadWorkload().containers[1], name: "in-an-hour", count: 1, submitAfterSeconds: 3600 } as Workload["containers"][number]] };
  const idle = await measure("idle", services, idleWorkload, idleRunMs);
  const busy = await measure("busy", services, loadWorkload(), 4 * 60_000);
  const queues = readServerlessSpec().queues.length;

  for (const m of [idle, busy]) {
    printTable(
      `cost: measured, ${m.label} run (${m.containers} containers, ${fixed(m.summary.elapsedMs / 1000, 1)} s, PollInterval 2 s, schedules every 5 s)`,
      ["function (trigger)", "invocations", "billed s", "billed ms / invocation", "RRU / invocation", "WRU / invocation"],
      measuredRows(m),
    );
    if (m.summary.functions !== undefined) note(formatBilling(m.summary.functions, m.summary.elapsedMs));
    const sqs = Object.entries(m.summary.sqs ?? {}).map(([q, s]) => `${q}: ${s.sent} sent, ${s.delivered} delivered, ${s.failed} failed`);
    note(`SQS: ${sqs.join("; ") || "none"}. Schedules fired: ${Object.entries(m.summary.schedules ?? {}).map(([f, s]) => `${f} ${s.fired}`).join(", ")}.`);
  }

  const header = ["a month of", "invocations", "Lambda", "DynamoDB", "SQS", "total"];
  const idleMonth = monthOfTime(timeCosts(idle), pollIntervalSeconds, queues);
  const busyMonth = monthOfTime(timeCosts(busy), pollIntervalSeconds, queues);
  const minutes = 30 * 24 * 60;
  const schedules = `EventBridge: ${3 * minutes} scheduled-rule events a month, $${prices.eventBridgeScheduledEvent} each`;
  printTable(`cost: an idle cluster, a month (30 days) at PollInterval ${pollIntervalSeconds} s`, header, billRows(idleMonth));
  note(schedules);
  printTable(`cost: an always-busy cluster (something queued or running at all times), a month at PollInterval ${pollIntervalSeconds} s, before per-container work`, header, billRows(busyMonth));
  const per = perTenThousand(busy);
  printTable("cost: per 10,000 containers (their type choice, launch passes and wake-ups), on top of the month", header, billRows(per));
  note(
    [
      `Prices: ${prices.region}, ${prices.asOf} (bench/cost/prices.ts): Lambda arm64 $${prices.lambdaArmPerGbSecond} per GB-s and $0.20 per million requests; DynamoDB on-demand $0.625 per million WRU, $0.125 per million RRU; SQS $0.40 per million requests. No free tier.`,
      "Per-invocation figures are this machine's (2 shared cores, DynamoDB Local, simulators): Lambda in AWS is likely faster per call; DynamoDB units do not depend on the machine.",
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
