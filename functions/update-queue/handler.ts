import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context, ScheduledEvent, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { createLogger, createMetrics } from "../../lib/observability/powertools.js";
import { shareApi503 } from "../../lib/runtime/share-api-503.js";
import { dispatchRuntimeFromEnv } from "../../lib/runtime/environment.js";
import { updateTicksFromEnv } from "../../lib/runtime/ticks.js";
import { isSqsEvent, ticksOf } from "../../lib/ticks/trigger.js";
import { runUpdateTick, type TickOutcome, type TickTrigger } from "../../lib/ticks/update-tick.js";

const logger = createLogger("update-queue");
const runtime = await dispatchRuntimeFromEnv();
const metrics = createMetrics("update-queue", runtime.config.ClusterID);
// Upstream keys this dispatcher does not use: said once per cold start, so a typo is never silent.
if (runtime.ignoredConfigKeys.length > 0) logger.info("config keys not used here", { keys: runtime.ignoredConfigKeys });
const deps = {
  queue: runtime.queue,
  ...updateTicksFromEnv(runtime),
  pollIntervalMs: runtime.config.Containers.CloudVMs.PollInterval,
};

function report(result: TickOutcome): void {
  if (result.outcome === "updated") {
    const { report: r, elapsedMs } = result;
    metrics.addMetric("UpdateDurationMs", MetricUnit.Milliseconds, elapsedMs);
    metrics.addMetric("ArvadosRequests", MetricUnit.Count, r.apiRequests);
    metrics.addMetric("EntriesWritten", MetricUnit.Count, r.inserted + r.replaced);
    metrics.addMetric("EntriesDeleted", MetricUnit.Count, r.removed);
    logger.info("queue updated", {
      elapsedMs,
      apiRequests: r.apiRequests,
      inserted: r.inserted,
      replaced: r.replaced,
      removed: r.removed,
      skippedForLocalChange: r.skippedForLocalChange,
      entries: r.cached,
      readIndex: r.readIndex,
      nextTickMs: result.nextDelayMs,
      restarted: result.restarted,
    });
  } else if (result.outcome === "failed") {
    // The next tick is on its way: the failure is reported, not thrown (a redelivery would be stale).
    metrics.addMetric("UpdateFailures", MetricUnit.Count, 1);
    logger.error("update failed", {
      error: result.error as Error,
      nextTickMs: result.nextDelayMs,
      restarted: result.restarted,
    });
  } else if (result.outcome === "leaseHeld") {
    logger.info("another update holds the lease; next tick sent");
  }
}

/**
 * update-queue: each tick of the chain (a delayed SQS message) polls the queue once (§1.5) and
 * sends the next; the one-minute schedule is the chain's watchdog (lib/ticks/update-tick.ts).
 * launch's wake-ups come on the same queue and are relayed to launch through the table.
 */
async function updateQueue(
  event: SQSEvent | ScheduledEvent,
  context: Context,
): Promise<SQSBatchResponse | TickOutcome["outcome"]> {
  const remainingMs = () => context.getRemainingTimeInMillis();
  if (!isSqsEvent(event)) {
    const result = await runUpdateTick(deps, { kind: "watchdog" }, remainingMs);
    report(result);
    if (result.outcome === "chainAlive") logger.debug("tick chain alive");
    else if (result.outcome !== "stale") logger.info("watchdog restarted the tick chain", { outcome: result.outcome });
    return result.outcome;
  }
  const batchItemFailures: { itemIdentifier: string }[] = [];
  for (const { messageId, tick } of ticksOf(event)) {
    if (tick?.kind === "launch-wake") {
      // launch's wake-up, on this queue so that one queue is polled, not two (README "Cost").
      try {
        const relayed = await deps.relay.relay(tick.reason, Date.now());
        logger.debug("launch wake-up relayed", { reason: tick.reason, relayed });
      } catch (err) {
        logger.warn("launch wake-up not relayed", { error: err as Error, reason: tick.reason });
        batchItemFailures.push({ itemIdentifier: messageId });
      }
      continue;
    }
    if (tick?.kind !== "update-tick") {
      logger.warn("not a tick; dropped", { messageId });
      continue;
    }
    const trigger: TickTrigger = {
      kind: "tick",
      generation: tick.generation,
      ...(tick.done === undefined ? {} : { done: tick.done }),
    };
    try {
      const result = await runUpdateTick(deps, trigger, remainingMs);
      report(result);
      if (result.outcome === "stale") logger.info("stale tick dropped", { generation: tick.generation });
    } catch (err) {
      // The claim or the send failed (DynamoDB, SQS): SQS delivers this tick again after its
      // visibility timeout; if it was claimed by then it is stale, and the watchdog restarts the chain.
      metrics.addMetric("UpdateFailures", MetricUnit.Count, 1);
      logger.error("tick failed", { error: err as Error, generation: tick.generation });
      batchItemFailures.push({ itemIdentifier: messageId });
    }
  }
  return { batchItemFailures };
}

export const handler = middy(updateQueue)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(shareApi503(runtime));
