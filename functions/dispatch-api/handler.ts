import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { LambdaFunctionURLEvent, LambdaFunctionURLResult } from "aws-lambda";
import { functionUrlResult, requestFromFunctionUrlEvent } from "../../lib/dispatch-api/function-url.js";
import { createLogger, createMetrics } from "../../lib/observability/powertools.js";
import { dispatchApiFromEnv } from "../../lib/runtime/dispatch-api.js";

const logger = createLogger("dispatch-api");
const { api, config } = await dispatchApiFromEnv();
const metrics = createMetrics("dispatch-api", config.ClusterID);

/**
 * dispatch-api: upstream's management API behind a Lambda Function URL (the Arvados controller
 * asks it why a container waits; operators hold, drain, run and kill instances). The log names
 * the route, status and action, never the token, the query or the body.
 */
async function dispatchApi(event: LambdaFunctionURLEvent): Promise<LambdaFunctionURLResult> {
  const started = Date.now();
  const request = requestFromFunctionUrlEvent(event);
  const { response, outcome } = await api.handle(request);
  metrics.addMetric("DispatchApiRequests", MetricUnit.Count, 1);
  metrics.addMetric("DispatchApiRefused", MetricUnit.Count, outcome.refused ? 1 : 0);
  const fields = {
    method: request.method,
    route: outcome.route ?? "-",
    status: outcome.status,
    durationMs: Date.now() - started,
  };
  if (outcome.action !== undefined) logger.info("dispatch API action", { ...fields, ...outcome.action });
  else if (outcome.error !== undefined)
    logger.error("dispatch API request failed", { ...fields, error: outcome.error });
  else logger.debug("dispatch API request", fields);
  return functionUrlResult(response);
}

export const handler = middy(dispatchApi).use(injectLambdaContext(logger)).use(logMetrics(metrics));
