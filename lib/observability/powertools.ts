import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";

/** The one CloudWatch namespace every function's metrics go to. */
export const metricsNamespace = "ArvadosDispatch";

/**
 * The structured logger for a function. Keys are stable (containerUuid, state, priority,
 * instanceType); messages are short constants. Never log whole events or container records.
 */
export function createLogger(serviceName: string): Logger {
  return new Logger({ serviceName, logLevel: (process.env.LOG_LEVEL ?? "INFO") as "INFO" });
}

/**
 * The EMF metrics emitter for a function. Every metric carries `service` (the function) and
 * `ClusterID`, so two clusters dispatched from one account and region keep apart on the
 * dashboards and alarms. Dimensions stay low-cardinality (never a uuid).
 */
export function createMetrics(serviceName: string, clusterId: string): Metrics {
  return new Metrics({ namespace: metricsNamespace, serviceName, defaultDimensions: { ClusterID: clusterId } });
}
