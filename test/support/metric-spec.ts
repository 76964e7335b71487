/**
 * Every metric the functions emit (namespace ArvadosDispatch) and the dimension sets it is
 * emitted with, stated once. The local run's logs must emit nothing else (runner.test.ts), and
 * the deployed dashboard and alarms must query exactly these (deployment.test.ts), so a metric
 * renamed or re-dimensioned on one side fails a test instead of leaving an empty graph.
 */

/** What every metric carries: the function (Powertools' service) and the cluster. */
export const baseDimensions = ["service", "ClusterID"] as const;

const base = [...baseDimensions];
const byReason = [[...base], [...base, "Reason"]];

export const metricNamespace = "ArvadosDispatch";

export const emittedMetrics: Record<string, Record<string, string[][]>> = {
  "update-queue": {
    UpdateDurationMs: [base],
    ArvadosRequests: [base],
    EntriesWritten: [base],
    EntriesDeleted: [base],
    UpdateFailures: [base],
  },
  "choose-instance-types": {
    TypesChosen: [base],
    UnsatisfiableContainers: [base],
  },
  launch: {
    ContainersLocked: [base],
    InstancesLaunched: [base],
    LaunchFailures: [base],
    CapacityErrors: [base],
    QuotaErrors: [base],
    ThrottleErrors: [base],
    QueuedToLaunchLatencyMs: [base],
    OldestQueuedContainerAgeSeconds: [base],
    ContainersAllocatedNotStarted: [base],
    ContainersNotAllocatedOverQuota: [base],
    AtQuota: [base],
    MaxConcurrentContainers: [base],
    InstanceStarts: [[...base, "SubnetID", "Success"]],
    SchedulingStatusesWritten: [base],
  },
  cleanup: {
    QueueEntries: [[...base, "State", "InstanceType"]],
    EntriesForgotten: [base],
    OrphanInstances: [base],
    ForeignInstances: [base],
    Instances: [[...base, "SubnetID"]],
    ContainersCancelled: byReason,
    ContainersRequeued: byReason,
    InstancesTerminated: byReason,
  },
  "dispatch-api": {
    DispatchApiRequests: [base],
    DispatchApiRefused: [base],
  },
};

/** One metric as an EMF log line declares it. */
export interface EmittedMetric {
  service: string;
  name: string;
  dimensions: string[];
  /** The value of each dimension on that line. */
  values: Record<string, string>;
}

/** The metrics declared by the CloudWatch embedded-metric-format lines in a log. */
export function emfMetrics(log: string): EmittedMetric[] {
  const found: EmittedMetric[] = [];
  for (const line of log.split("\n")) {
    if (!line.startsWith('{"_aws"')) continue;
    const record = JSON.parse(line) as {
      _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
    } & Record<string, unknown>;
    for (const directive of record._aws.CloudWatchMetrics) {
      if (directive.Namespace !== metricNamespace) continue;
      for (const dimensions of directive.Dimensions) {
        const values = Object.fromEntries(dimensions.map((d) => [d, String(record[d])]));
        for (const { Name } of directive.Metrics)
          found.push({ service: String(record.service), name: Name, dimensions, values });
      }
    }
  }
  return found;
}
