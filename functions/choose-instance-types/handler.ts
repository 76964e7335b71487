import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { createLogger, createMetrics } from "../../lib/observability/powertools.js";
import { assignInstanceTypes } from "../../lib/queue/assign-types.js";
import { shareApi503 } from "../../lib/runtime/share-api-503.js";
import { dispatchRuntimeFromEnv } from "../../lib/runtime/environment.js";

const logger = createLogger("choose-instance-types");
const runtime = await dispatchRuntimeFromEnv();
const metrics = createMetrics("choose-instance-types", runtime.config.ClusterID);
const processor = new BatchProcessor(EventType.DynamoDBStreams);

/** One INSERT of a container entry: choose its instance types (§1.8, §2). */
async function recordHandler(record: DynamoDBRecord): Promise<void> {
  const uuid = record.dynamodb?.Keys?.uuid?.S;
  if (uuid === undefined || uuid.startsWith("#")) return;
  const outcome = await assignInstanceTypes(uuid, runtime);
  if (outcome === "assigned") metrics.addMetric("TypesChosen", MetricUnit.Count, 1);
  if (outcome === "cancelled-unsatisfiable") metrics.addMetric("UnsatisfiableContainers", MetricUnit.Count, 1);
  logger.info("instance types", { containerUuid: uuid, outcome });
}

/**
 * choose-instance-types: triggered by INSERTs on the queue table's stream. Failed records are
 * reported individually; when every record fails the batch throws, so Lambda bisects it and a
 * poison record is isolated instead of blocking the shard.
 */
async function chooseInstanceTypes(event: DynamoDBStreamEvent, context: Context) {
  return processPartialResponse(event, recordHandler, processor, { context, throwOnFullBatchFailure: true });
}

export const handler = middy(chooseInstanceTypes)
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics))
  .use(shareApi503(runtime));
