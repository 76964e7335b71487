/**
 * The CloudWatch dashboard body (infra/dashboard.yml), built here because a dashboard is a JSON
 * string and a grid of widgets reads better as code than as an escaped string in YAML. Returns
 * `Fn::Sub` over that JSON so CloudFormation fills in the region and the alarm ARNs.
 * One row per function, in the order a container meets them, then the Lambda plumbing.
 * CommonJS because osls loads it with require() and the package is "type": "module".
 */
"use strict";

const namespace = "ArvadosDispatch";
const region = "${AWS::Region}";

/** The cluster's metric `[namespace, metric, "service", fn, "ClusterID", id, options]`, as Powertools emits it. */
function dispatchMetric(clusterId, fn, metric, options = {}) {
  return [namespace, metric, "service", fn, "ClusterID", clusterId, options];
}

/**
 * A SEARCH over the cluster's metric `metric` with `dimensions` besides service and ClusterID, one
 * line per value. A widget's metrics are arrays, an expression too: `[{ expression, id }]`.
 */
function searchByDimensions(clusterId, id, metric, dimensions, stat) {
  const schema = [namespace, "service", "ClusterID", ...dimensions].join(",");
  return [{ expression: `SEARCH('{${schema}} MetricName="${metric}" ClusterID="${clusterId}"', '${stat}', 60)`, id }];
}

function graph(title, x, y, w, h, metrics, extra = {}) {
  return {
    type: "metric",
    x,
    y,
    width: w,
    height: h,
    properties: { title, region, view: "timeSeries", stacked: false, period: 60, stat: "Sum", metrics, ...extra },
  };
}

module.exports.body = async ({ resolveVariable }) => {
  const service = await resolveVariable("self:service");
  const stage = await resolveVariable("sls:stage");
  const ageThreshold = Number(await resolveVariable("param:oldestQueuedAgeAlarmSeconds"));
  const clusterId = String(await resolveVariable("param:clusterId"));
  const dispatch = (fn, metric, options) => dispatchMetric(clusterId, fn, metric, options);
  const functionName = (fn) => `${service}-${stage}-${fn}`;
  const functions = ["update-queue", "choose-instance-types", "launch", "cleanup", "dispatch-api"];
  const perFunction = (metric, stat, suffix = "") =>
    functions.map((fn) => ["AWS/Lambda", metric, "FunctionName", functionName(fn), { stat, label: `${fn}${suffix}` }]);

  const widgets = [
    {
      type: "text",
      x: 0,
      y: 0,
      width: 24,
      height: 3,
      properties: {
        markdown: [
          `## Arvados dispatcher — ${stage}`,
          "A container flows left to right, top to bottom: **update-queue** caches it, **choose-instance-types** ranks its types, " +
            "**launch** locks it and starts an instance, **cleanup** forgets it and reconciles instances; " +
            "**dispatch-api** tells the controller why a container waits and lets operators act on instances. " +
            "Counts are sums per minute; a red alarm's description says where to look first.",
        ].join("\n\n"),
      },
    },
    {
      type: "alarm",
      x: 0,
      y: 3,
      width: 24,
      height: 2,
      properties: {
        title: "Alarms",
        alarms: [
          "${UpdateFailuresAlarm.Arn}",
          "${FunctionErrorsAlarm.Arn}",
          "${FailureQueueNotEmptyAlarm.Arn}",
          "${LaunchFailuresAlarm.Arn}",
          "${OldestQueuedContainerAgeAlarm.Arn}",
          "${UpdateQueueSilentAlarm.Arn}",
          "${TypeChoiceBehindAlarm.Arn}",
          "${StreamThrottlesAlarm.Arn}",
          "${OrphanInstancesPersistAlarm.Arn}",
          "${ScheduleFailingAlarm.Arn}",
        ],
      },
    },

    // update-queue: what the cache holds and what keeping it fresh costs.
    graph(
      "queue entries by state and instance type (counted by cleanup each minute)",
      0,
      5,
      12,
      6,
      [searchByDimensions(clusterId, "entries", "QueueEntries", ["State", "InstanceType"], "Average")],
      { stacked: true, stat: "Average" },
    ),
    graph(
      "update-queue: update duration (ms)",
      12,
      5,
      6,
      6,
      [
        dispatch("update-queue", "UpdateDurationMs", { stat: "p50", label: "p50" }),
        dispatch("update-queue", "UpdateDurationMs", { stat: "p99", label: "p99" }),
        dispatch("update-queue", "UpdateDurationMs", { stat: "Maximum", label: "max" }),
      ],
    ),
    graph("update-queue: API traffic, writes, failures", 18, 5, 6, 6, [
      dispatch("update-queue", "ArvadosRequests"),
      dispatch("update-queue", "EntriesWritten"),
      dispatch("update-queue", "EntriesDeleted"),
      dispatch("update-queue", "UpdateFailures", { color: "#d62728" }),
    ]),

    // choose-instance-types and launch: from a new entry to a running instance.
    graph("choose-instance-types", 0, 11, 8, 6, [
      dispatch("choose-instance-types", "TypesChosen"),
      dispatch("choose-instance-types", "UnsatisfiableContainers", { color: "#d62728" }),
    ]),
    graph("launch: locked and launched; scheduling statuses changed", 8, 11, 8, 6, [
      dispatch("launch", "ContainersLocked"),
      dispatch("launch", "InstancesLaunched"),
      dispatch("launch", "SchedulingStatusesWritten"),
    ]),
    graph("launch: RunInstances errors by class", 16, 11, 8, 6, [
      dispatch("launch", "LaunchFailures", { color: "#d62728" }),
      dispatch("launch", "CapacityErrors"),
      dispatch("launch", "QuotaErrors"),
      dispatch("launch", "ThrottleErrors"),
    ]),
    graph(
      "launch: queued → launched latency (ms)",
      0,
      17,
      8,
      6,
      [
        dispatch("launch", "QueuedToLaunchLatencyMs", { stat: "p50", label: "p50" }),
        dispatch("launch", "QueuedToLaunchLatencyMs", { stat: "p90", label: "p90" }),
        dispatch("launch", "QueuedToLaunchLatencyMs", { stat: "Maximum", label: "max" }),
      ],
    ),
    graph(
      "launch: oldest launchable container (s)",
      8,
      17,
      8,
      6,
      [dispatch("launch", "OldestQueuedContainerAgeSeconds", { stat: "Maximum", label: "oldest" })],
      { stat: "Maximum", annotations: { horizontal: [{ label: "alarm", value: ageThreshold, color: "#d62728" }] } },
    ),

    // cleanup: finished work forgotten, instances reconciled; totals here, reasons below.
    graph("cleanup", 16, 17, 8, 6, [
      dispatch("cleanup", "EntriesForgotten"),
      dispatch("cleanup", "ContainersCancelled"),
      dispatch("cleanup", "ContainersRequeued"),
      dispatch("cleanup", "InstancesTerminated"),
      dispatch("cleanup", "OrphanInstances", { color: "#d62728" }),
      // Instances of this instance set not launched here (an upstream dispatcher's): never terminated.
      dispatch("cleanup", "ForeignInstances", { stat: "Maximum", color: "#9467bd" }),
    ]),

    graph(
      "cleanup: cancelled, requeued and terminated, by reason",
      0,
      23,
      24,
      6,
      ["ContainersCancelled", "ContainersRequeued", "InstancesTerminated"].map((metric, i) =>
        searchByDimensions(clusterId, `reason${i}`, metric, ["Reason"], "Sum"),
      ),
    ),

    // The management API: the controller's status questions and operators' actions.
    graph("dispatch API: requests, and those refused by the token check (401, 403)", 0, 29, 24, 6, [
      dispatch("dispatch-api", "DispatchApiRequests"),
      dispatch("dispatch-api", "DispatchApiRefused", { color: "#d62728" }),
    ]),

    // The Lambda plumbing underneath.
    graph("Lambda errors and throttles", 0, 35, 8, 6, [
      ...perFunction("Errors", "Sum", " errors"),
      ...perFunction("Throttles", "Sum", " throttles"),
    ]),
    graph(
      "Stream iterator age (ms): how far behind the table the stream functions are",
      8,
      35,
      8,
      6,
      ["choose-instance-types", "launch"].map((fn) => [
        "AWS/Lambda",
        "IteratorAge",
        "FunctionName",
        functionName(fn),
        { stat: "Maximum", label: fn },
      ]),
      { stat: "Maximum" },
    ),
    graph(
      "Stream failure queue (records given up on)",
      16,
      35,
      8,
      6,
      [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${FailureQueue.QueueName}", { stat: "Maximum" }]],
      { stat: "Maximum", period: 300 },
    ),

    // Upstream's scheduler gauges (§3.7) and EC2 by subnet (§4.3), as operators of
    // arvados-dispatch-cloud know them.
    graph(
      "scheduler: allocated not started, over quota, at quota, max concurrent",
      0,
      35,
      8,
      6,
      [
        dispatch("launch", "ContainersAllocatedNotStarted"),
        dispatch("launch", "ContainersNotAllocatedOverQuota"),
        dispatch("launch", "AtQuota", { color: "#d62728" }),
        dispatch("launch", "MaxConcurrentContainers"),
      ],
      { stat: "Maximum" },
    ),
    graph("EC2: instance starts by subnet and success", 8, 35, 8, 6, [
      searchByDimensions(clusterId, "starts", "InstanceStarts", ["SubnetID", "Success"], "Sum"),
    ]),
    graph(
      "EC2: instances by subnet",
      16,
      35,
      8,
      6,
      [searchByDimensions(clusterId, "bysubnet", "Instances", ["SubnetID"], "Maximum")],
      { stat: "Maximum" },
    ),
  ];

  return { "Fn::Sub": JSON.stringify({ start: "-PT6H", widgets }) };
};
