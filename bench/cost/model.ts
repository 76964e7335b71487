import type { FunctionStats, TriggerKind } from "../../local/runner/function-host.js";
import type { DynamoDbUsage } from "../../local/dynamodb-meter-proxy.js";
import { idleReceivesPerQueuePerMinute, monthSeconds, prices } from "./prices.js";

/** What one local run measured of one function. */
export interface MeasuredFunction {
  name: string;
  memoryMb: number;
  stats: FunctionStats;
  dynamodb: DynamoDbUsage;
}

/** Per invocation of one function by one trigger: billed ms, and DynamoDB units (the function's average over its triggers). */
export interface UnitCost {
  billedMs: number;
  rru: number;
  wru: number;
  memoryMb: number;
}

/** The average cost of one invocation of `f` by `trigger` (DynamoDB: f's units shared among its triggers by billed time). */
export function unitCost(f: MeasuredFunction, trigger: TriggerKind): UnitCost | undefined {
  const t = f.stats.byTrigger[trigger];
  if (t === undefined || t.invocations === 0) return undefined;
  // DynamoDB is metered per function: each trigger gets the share of its billed time.
  const share = f.stats.billedMs > 0 ? t.billedMs / f.stats.billedMs : t.invocations / Math.max(1, f.stats.invocations);
  return {
    billedMs: t.billedMs / t.invocations,
    rru: (f.dynamodb.readCapacityUnits * share) / t.invocations,
    wru: (f.dynamodb.writeCapacityUnits * share) / t.invocations,
    memoryMb: f.memoryMb,
  };
}

/** A line of a bill: what, how many a month, and its dollars by service. */
export interface BillLine {
  what: string;
  invocations: number;
  lambda: number;
  dynamodb: number;
  sqs: number;
}

/** The bill of `count` invocations at `unit`, plus `sqsRequests` SQS requests. */
export function billLine(what: string, count: number, unit: UnitCost | undefined, sqsRequests = 0): BillLine {
  const u = unit ?? { billedMs: 0, rru: 0, wru: 0, memoryMb: 0 };
  const gbSeconds = ((count * u.billedMs) / 1000) * (u.memoryMb / 1024);
  return {
    what,
    invocations: count,
    lambda: unit === undefined ? 0 : gbSeconds * prices.lambdaArmPerGbSecond + count * prices.lambdaPerRequest,
    dynamodb: count * (u.rru * prices.dynamoDbPerReadUnit + u.wru * prices.dynamoDbPerWriteUnit),
    sqs: sqsRequests * prices.sqsPerRequest,
  };
}

/** SQS requests per tick or wake message: SendMessage, the ReceiveMessage that returns it, the DeleteMessage after it. */
export const sqsRequestsPerMessage = 3;

/**
 * A month of the time-driven work (the work a cluster does whether or not containers come and
 * go): update-queue's ticks every PollInterval and its watchdog, the launch sweep and cleanup
 * every minute, and the SQS pollers' empty receives on `queues` queues.
 */
export function monthOfTime(
  costs: { tick?: UnitCost; watchdog?: UnitCost; launchSweep?: UnitCost; cleanup?: UnitCost },
  pollIntervalSeconds: number,
  queues: number,
): BillLine[] {
  const ticks = monthSeconds / pollIntervalSeconds;
  const minutes = monthSeconds / 60;
  return [
    billLine(`update-queue ticks (every ${pollIntervalSeconds} s)`, ticks, costs.tick, ticks * sqsRequestsPerMessage),
    billLine("update-queue watchdog (every minute)", minutes, costs.watchdog),
    billLine("launch sweep (every minute)", minutes, costs.launchSweep),
    billLine("cleanup (every minute)", minutes, costs.cleanup),
    {
      what: `SQS pollers' empty receives (${queues} queues)`,
      invocations: 0,
      lambda: 0,
      dynamodb: 0,
      sqs: queues * idleReceivesPerQueuePerMinute * minutes * prices.sqsPerRequest,
    },
  ];
}

export const total = (lines: readonly BillLine[]) => lines.reduce((sum, l) => sum + l.lambda + l.dynamodb + l.sqs, 0);
