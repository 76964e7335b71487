import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context, ScheduledEvent } from "aws-lambda";
import { countEntriesByStateAndType } from "../../lib/queue/entry-counts.js";
import { runUpdateLoop } from "../../lib/queue/update-loop.js";
import { createLogger, createMetrics } from "../../lib/observability/powertools.js";
import { shareApi503 } from "../../lib/runtime/share-api-503.js";
import { dispatchRuntimeFromEnv } from "../../lib/runtime/environment.js";

const logger = createLogger("update-queue");
const runtime = await dispatchRuntimeFromEnv();
const metrics = createMetrics("update-queue", runtime.config.ClusterID);
// Upstream keys this dispatcher does not use: said once per cold start, so a typo is never silent.
if (runtime.ignoredConfigKeys.length > 0) logger.info("config keys not used here", { keys: runtime.ignoredConfigKeys });

/** Leave this much of the invocation unused: room to release the lease and flush metrics. */
const marginMs = 5_000;

/**
 * update-queue: on each EventBridge tick, keep the queue table in line with Arvados (§1.5),
 * polling every PollInterval while there is work and the time budget lasts.
 */
async function updateQueue(_event: ScheduledEvent, context: Context) {
  try {
    const result = await runUpdateLoop({
      queue: runtime.queue,
      pollIntervalMs: runtime.config.Containers.CloudVMs.PollInterval,
      remainingMs: () => context.getRemainingTimeInMillis(),
      marginMs,
      onUpdate: (report, elapsedMs) => {
        metrics.addMetric("UpdateDurationMs", MetricUnit.Milliseconds, elapsedMs);
        metrics.addMetric("ArvadosRequests", MetricUnit.Count, report.apiRequests);
        metrics.addMetric("EntriesWritten", MetricUnit.Count, report.inserted + report.replaced);
        metrics.addMetric("EntriesDeleted", MetricUnit.Count, report.removed);
        for (const point of countEntriesByStateAndType(report.entries)) {
          const single = metrics.singleMetric();
          single.addDimensions({ State: point.state, InstanceType: point.instanceType });
          single.addMetric("QueueEntries", MetricUnit.Count, point.count);
        }
        logger.info("queue updated", {
          elapsedMs,
          apiRequests: report.apiRequests,
          inserted: report.inserted,
          replaced: report.replaced,
          removed: report.removed,
          skippedForLocalChange: report.skippedForLocalChange,
          entries: report.entries.length,
        });
      },
    });
    if (result.leaseHeld) logger.info("another update holds the lease; exiting");
    return result;
  } catch (err) {
    metrics.addMetric("UpdateFailures", MetricUnit.Count, 1);
    logger.error("update failed", { error: err as Error });
    throw err;
  }
}

export const handler = middy(updateQueue).use(injectLambdaContext(logger)).use(logMetrics(metrics)).use(shareApi503(runtime));
