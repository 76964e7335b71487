import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent, ScheduledEvent, SQSEvent } from "aws-lambda";
import { runLaunchPass } from "../../lib/launch/launch-pass.js";
import { createLogger, createMetrics } from "../../lib/observability/powertools.js";
import { dispatchRuntimeFromEnv, instanceCloudFromEnv, workerIdleStore } from "../../lib/runtime/environment.js";
import { activeEntriesOf, liveEntriesFor } from "../../lib/runtime/live-entries.js";
import { launchWakesFromEnv } from "../../lib/runtime/ticks.js";
import { poolDepsFromEnv } from "../../lib/runtime/worker-mode.js";
import { requestLaunchWake } from "../../lib/ticks/launch-wake.js";
import { isSqsEvent } from "../../lib/ticks/trigger.js";

const logger = createLogger("launch");
const runtime = await dispatchRuntimeFromEnv();
const metrics = createMetrics("launch", runtime.config.ClusterID);
const { cloud, tokens } = await instanceCloudFromEnv(runtime);
const wakeDeps = launchWakesFromEnv(runtime);
// WORKER_MODE (lib/runtime/worker-mode.ts): pool mode keeps workers and batches creates.
const pool = poolDepsFromEnv(runtime.config, cloud, workerIdleStore(runtime));
// A pass reads the live entries from the `active` index, not a scan of the table.
const active = activeEntriesOf(runtime);

/**
 * launch: a stream change made an entry launchable, a wake-up a pass asked for came (lib/ticks/),
 * or the one-minute sweep fired. Either way one pass plans the whole backlog in priority order
 * (§3.3), so a record needs no per-record work: the batch succeeds once the pass has run.
 */
async function launch(
  event: DynamoDBStreamEvent | SQSEvent | ScheduledEvent,
  context: Context,
): Promise<DynamoDBBatchResponse> {
  // The sweep of an idle queue: the last update left nothing Queued or Locked, so no pass could
  // lock, launch or unlock anything (half a read unit instead of a pass).
  if (!("Records" in event) && !isSqsEvent(event) && (await wakeDeps.waiting()) === 0) {
    // The alarm on this gauge treats silence as launch not running: an idle sweep reports 0.
    metrics.addMetric("OldestQueuedContainerAgeSeconds", MetricUnit.Seconds, 0);
    logger.debug("sweep: nothing waits");
    return { batchItemFailures: [] };
  }
  const report = await runLaunchPass(
    {
      ...runtime,
      cloud,
      tokens,
      owner: runtime.owner(),
      ...(pool === undefined ? {} : { pool }),
      live: liveEntriesFor(active, event),
    },
    () => context.getRemainingTimeInMillis(),
  );
  metrics.addMetric("ContainersLocked", MetricUnit.Count, report.locked);
  metrics.addMetric("InstancesLaunched", MetricUnit.Count, report.launched.length);
  metrics.addMetric("LaunchFailures", MetricUnit.Count, report.failures);
  metrics.addMetric("CapacityErrors", MetricUnit.Count, report.capacityErrors);
  metrics.addMetric("QuotaErrors", MetricUnit.Count, report.quotaErrors);
  metrics.addMetric("ThrottleErrors", MetricUnit.Count, report.throttleErrors);
  metrics.addMetric("OldestQueuedContainerAgeSeconds", MetricUnit.Seconds, report.oldestQueuedAgeSeconds);
  if (report.ran) {
    // §3.7: upstream's scheduler gauges, as of this pass's last plan.
    metrics.addMetric("ContainersAllocatedNotStarted", MetricUnit.Count, report.allocatedNotStarted);
    metrics.addMetric("ContainersNotAllocatedOverQuota", MetricUnit.Count, report.overQuota);
    metrics.addMetric("AtQuota", MetricUnit.Count, report.atQuota ? 1 : 0);
    metrics.addMetric("MaxConcurrentContainers", MetricUnit.Count, report.limits.maxContainers);
  }
  // §4.3 ec2_instance_starts_total{subnet_id, success}.
  for (const start of report.instanceStarts) {
    const single = metrics.singleMetric();
    single.addDimensions({ SubnetID: start.subnetId || "none", Success: start.success ? "1" : "0" });
    single.addMetric("InstanceStarts", MetricUnit.Count, 1);
  }
  metrics.addMetric("SchedulingStatusesWritten", MetricUnit.Count, report.statusesWritten);
  for (const launched of report.launched) {
    metrics.addMetric("QueuedToLaunchLatencyMs", MetricUnit.Milliseconds, launched.queuedMs);
    logger.info("instance launched", { containerUuid: launched.uuid, instanceType: launched.instanceType });
  }
  for (const repeat of report.repeats) {
    logger.info("launch intent repeated", {
      containerUuid: repeat.uuid,
      instanceType: repeat.instanceType,
      outcome: repeat.outcome,
    });
    if (!repeat.typeConfigured) {
      logger.warn("launch intent type not in config", {
        containerUuid: repeat.uuid,
        instanceType: repeat.instanceType,
      });
    }
  }
  for (const failure of report.failureDetails) {
    logger.warn("launch step failed", { containerUuid: failure.uuid, step: failure.step, error: failure.error });
  }
  if (report.wake !== undefined) {
    // §4.1: the window's end (or the backlog) wakes a pass; never a billed wait here. Best effort:
    // a lost wake-up leaves the work to the next stream record or the one-minute sweep.
    const wake = report.wake;
    await requestLaunchWake(wakeDeps, wake).then(
      (sent) => logger.info("launch wake-up", { reason: wake.reason, inMs: Math.max(0, wake.atMs - Date.now()), sent }),
      (err: unknown) => logger.warn("launch wake-up not sent", { reason: wake.reason, error: err as Error }),
    );
  }
  if (report.statusWriteErrors.length > 0)
    logger.warn("scheduling status writes failed", { errors: report.statusWriteErrors });
  if (report.unassignErrors.length > 0) logger.warn("order tag removals failed", { errors: report.unassignErrors });
  logger.info("launch pass", {
    ran: report.ran,
    plans: report.plans,
    planned: report.planned,
    locked: report.locked,
    launched: report.launched.length,
    unlocked: report.unlocked,
    failures: report.failures,
    statusesWritten: report.statusesWritten,
    ordersRemoved: report.ordersRemoved,
    ...(report.ran ? report.limits : {}),
  });
  return { batchItemFailures: [] };
}

export const handler = middy(launch).use(injectLambdaContext(logger)).use(logMetrics(metrics));
