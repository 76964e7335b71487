import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context, EventBridgeEvent } from "aws-lambda";
import { runCleanupPass } from "../../lib/cleanup/cleanup-pass.js";
import { createLogger, createMetrics } from "../../lib/observability/powertools.js";
import { shareApi503 } from "../../lib/runtime/share-api-503.js";
import { dispatchRuntimeFromEnv, instanceCloudFromEnv, workerIdleStore } from "../../lib/runtime/environment.js";
import { activeEntriesOf, cleanupLiveFor } from "../../lib/runtime/live-entries.js";

const logger = createLogger("cleanup");
const runtime = await dispatchRuntimeFromEnv();
const metrics = createMetrics("cleanup", runtime.config.ClusterID);
const { cloud } = await instanceCloudFromEnv(runtime);
// Pool workers are managed in either WORKER_MODE: kills through the channel, the TimeoutIdle backstop.
const workerIdle = workerIdleStore(runtime);
// A pass reads the live entries from the `active` index and the finished ones from the queue index, not a scan.
const live = cleanupLiveFor(runtime, activeEntriesOf(runtime));

type CleanupEvent = EventBridgeEvent<string, { "instance-id"?: string }>;

/** The instance a Spot Instance Interruption Warning names, if this event is one. */
function interruptedInstances(event: CleanupEvent): string[] {
  const id =
    event["detail-type"] === "EC2 Spot Instance Interruption Warning" ? event.detail?.["instance-id"] : undefined;
  return id === undefined ? [] : [id];
}

/** The total (what the dashboard graphs and a quiet minute reports as 0), then one metric per reason. */
function emitByReason(name: string, counts: Record<string, number>): void {
  metrics.addMetric(
    name,
    MetricUnit.Count,
    Object.values(counts).reduce((sum, n) => sum + n, 0),
  );
  for (const [reason, count] of Object.entries(counts)) {
    const single = metrics.singleMetric();
    single.addDimension("Reason", reason);
    single.addMetric(name, MetricUnit.Count, count);
  }
}

/** cleanup: every minute, and on spot interruption warnings (§3.4 with instances for workers). */
async function cleanup(event: CleanupEvent, _context: Context) {
  const report = await runCleanupPass(
    { ...runtime, cloud, channel: cloud, workerIdle, live },
    interruptedInstances(event),
  );
  metrics.addMetric("EntriesForgotten", MetricUnit.Count, report.forgotten);
  metrics.addMetric("OrphanInstances", MetricUnit.Count, report.orphans);
  // Never terminated here: an operator drains them (README "Migrating from arvados-dispatch-cloud").
  metrics.addMetric("ForeignInstances", MetricUnit.Count, report.foreign.length);
  if (report.foreign.length > 0)
    logger.warn("instances not launched by this dispatcher left alone", { instanceIds: report.foreign });
  // An operator put them on hold (dispatch API): they cost money until released or killed.
  if (report.held.length > 0) logger.info("instances on hold left alone", { instances: report.held });
  for (const failure of report.failureDetails) logger.warn("cleanup action failed", failure);
  emitByReason("ContainersCancelled", report.cancelled);
  emitByReason("ContainersRequeued", report.requeued);
  emitByReason("InstancesTerminated", report.terminated);
  for (const [subnetId, count] of Object.entries(report.instancesBySubnet)) {
    const single = metrics.singleMetric();
    single.addDimension("SubnetID", subnetId || "none");
    single.addMetric("Instances", MetricUnit.Count, count);
  }
  for (const point of report.entryCounts) {
    const single = metrics.singleMetric();
    single.addDimensions({ State: point.state, InstanceType: point.instanceType });
    single.addMetric("QueueEntries", MetricUnit.Count, point.count);
  }
  const {
    failureDetails: _failures,
    foreign,
    held,
    instancesBySubnet: _bySubnet,
    entryCounts: _entryCounts,
    ...counts
  } = report;
  logger.info("cleanup pass", { ...counts, foreign: foreign.length, held: held.length });
  return report;
}

export const handler = middy(cleanup)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(shareApi503(runtime));
