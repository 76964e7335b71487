import { beforeAll, describe, expect, it } from "vitest";
import {
  functionSpec,
  parseServerlessSpec,
  rateToMs,
  readServerlessSpec,
  ServerlessSpecError,
} from "../../local/runner/serverless-mappings.js";
import { type PackagedTemplate, packageTemplate } from "../support/package-template.js";
import { chooseInstanceTypesFilter, launchFilter, launchWakeFilter } from "../support/stream-filters.js";

/*
 * The local runner takes every trigger from serverless.yml itself. These tests pin what it
 * reads, and that it reads what osls deploys: the packaged template's event source mappings,
 * schedules, timeouts and reserved concurrency must match the runner's view of the same stage.
 */

describe("the runner reads the stream mappings from serverless.yml", () => {
  const spec = readServerlessSpec({ overrides: { clusterId: "abcde" } });

  it("maps choose-instance-types to INSERTs of container entries, with the cluster's uuid prefix", () => {
    const [stream, ...others] = functionSpec(spec, "choose-instance-types").streams;
    expect(others).toEqual([]);
    expect(stream?.filterPatterns).toEqual([chooseInstanceTypesFilter("abcde")]);
  });

  it("maps launch to launchable entries: Queued or Locked, priority not 0, types chosen, no instance", () => {
    const [stream] = functionSpec(spec, "launch").streams;
    expect(stream?.filterPatterns).toEqual([launchFilter, launchWakeFilter]);
  });

  it("keeps the batching, bisect, retry and partial-response settings of each mapping", () => {
    for (const name of ["choose-instance-types", "launch"]) {
      expect(functionSpec(spec, name).streams[0]).toMatchObject({
        batchSize: 10,
        maximumBatchingWindowMs: 2_000,
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: 5,
        reportBatchItemFailures: true,
        startingPosition: "TRIM_HORIZON",
      });
    }
  });

  it("reads update-queue's tick queue, the one queue (launch sends its wake-ups to it), with its visibility and retention", () => {
    expect(functionSpec(spec, "update-queue").sqs).toEqual([
      {
        queue: "TickQueue",
        batchSize: 1,
        maximumBatchingWindowMs: 0,
        maximumConcurrency: 2,
        reportBatchItemFailures: true,
      },
    ]);
    expect(functionSpec(spec, "update-queue").queueUrls).toEqual({ TICK_QUEUE_URL: "TickQueue" });
    // launch's wake-ups go on the tick queue and come back through the table's stream: one queue.
    expect(functionSpec(spec, "launch").sqs).toEqual([]);
    expect(functionSpec(spec, "launch").queueUrls).toEqual({ TICK_QUEUE_URL: "TickQueue" });
    expect(spec.queues.map((q) => q.logicalId).filter((q) => q !== "FailureQueue")).toEqual(["TickQueue"]);
    expect(spec.queues.find((q) => q.logicalId === "TickQueue")).toEqual({
      logicalId: "TickQueue",
      visibilityTimeoutMs: 90_000,
      retentionMs: 60_000,
    });
  });

  it("schedules update-queue, launch and cleanup every minute, and nothing else", () => {
    const scheduled = spec.functions
      .filter((f) => f.schedules.length > 0)
      .map((f) => [f.name, f.schedules.map((s) => s.rateMs)]);
    expect(scheduled).toEqual([
      ["update-queue", [60_000]],
      ["launch", [60_000]],
      ["cleanup", [60_000]],
    ]);
  });

  it("uses each function's timeout; update-queue reserves no concurrency (its lease and tick claims keep one update at a time)", () => {
    expect(functionSpec(spec, "update-queue")).toMatchObject({ timeoutMs: 60_000 });
    expect(functionSpec(spec, "update-queue").reservedConcurrency).toBeUndefined();
    expect(functionSpec(spec, "choose-instance-types").timeoutMs).toBe(30_000);
    expect(functionSpec(spec, "launch").reservedConcurrency).toBeUndefined();
  });
});

describe("the runner's view of serverless.yml matches the template osls deploys", () => {
  let template: PackagedTemplate;
  const spec = readServerlessSpec({ stage: "dev" });
  beforeAll(async () => {
    template = await packageTemplate({ stage: "dev" });
  }, 120_000);

  it.each(spec.functions.map((f) => f.name))("%s: same stream mappings", (name) => {
    const streamArn = JSON.stringify({ "Fn::GetAtt": ["QueueTable", "StreamArn"] });
    const deployed = template
      .eventSourceMappings(name)
      .filter((m) => JSON.stringify(m.EventSourceArn) === streamArn)
      .map((m) => ({
        filterPatterns: (m.FilterCriteria?.Filters ?? []).map((f) => JSON.parse(f.Pattern) as unknown),
        batchSize: m.BatchSize,
        maximumBatchingWindowMs: (m.MaximumBatchingWindowInSeconds ?? 0) * 1000,
        bisectBatchOnFunctionError: m.BisectBatchOnFunctionError ?? false,
        maximumRetryAttempts: m.MaximumRetryAttempts ?? Number.POSITIVE_INFINITY,
        reportBatchItemFailures: (m.FunctionResponseTypes ?? []).includes("ReportBatchItemFailures"),
        startingPosition: m.StartingPosition,
      }));
    expect(functionSpec(spec, name).streams).toEqual(deployed);
  });

  it.each(spec.functions.map((f) => f.name))("%s: same SQS mappings (tick and wake-up queues)", (name) => {
    const deployed = template
      .eventSourceMappings(name)
      .filter((m) => JSON.stringify(m.EventSourceArn).includes('Queue","Arn'))
      .map((m) => {
        const sqs = m as typeof m & { ScalingConfig?: { MaximumConcurrency?: number } };
        return {
          queue: (m.EventSourceArn as { "Fn::GetAtt": [string, string] })["Fn::GetAtt"][0],
          batchSize: m.BatchSize,
          maximumBatchingWindowMs: (m.MaximumBatchingWindowInSeconds ?? 0) * 1000,
          ...(sqs.ScalingConfig?.MaximumConcurrency === undefined
            ? {}
            : { maximumConcurrency: sqs.ScalingConfig.MaximumConcurrency }),
          reportBatchItemFailures: (m.FunctionResponseTypes ?? []).includes("ReportBatchItemFailures"),
        };
      });
    expect(functionSpec(spec, name).sqs).toEqual(deployed);
  });

  it.each(spec.functions.map((f) => f.name))("%s: same schedules, timeout and reserved concurrency", (name) => {
    const local = functionSpec(spec, name);
    const schedules = template
      .rulesTargeting(name)
      .flatMap((r) => (r.ScheduleExpression === undefined ? [] : [r.ScheduleExpression]));
    expect(local.schedules.map((s) => s.expression)).toEqual(schedules);
    const fn = template.lambdaFunction(name).properties;
    expect(local.timeoutMs).toBe(fn.Timeout * 1000);
    expect(local.reservedConcurrency).toBe(fn.ReservedConcurrentExecutions);
  });

  it.each(spec.functions.map((f) => f.name))("%s: a Function URL locally exactly when it has one deployed", (name) => {
    const target = JSON.stringify(template.functionArn(name));
    const deployed = template
      .resourcesOfType<{ TargetFunctionArn: unknown }>("AWS::Lambda::Url")
      .some(([, r]) => JSON.stringify(r.Properties.TargetFunctionArn) === target);
    expect(functionSpec(spec, name).url).toBe(deployed);
    expect(functionSpec(spec, name).url).toBe(name === "dispatch-api");
  });
});

describe("serverless.yml's variables and CloudFormation tags", () => {
  const yml = `
params:
  default:
    clusterId: \${sls:stage}
    prefix: "\${param:clusterId}-dz642-"
  xyzzy:
    extra: stage-only
provider:
  timeout: 20
  environment:
    TABLE: !Ref QueueTable
    JOINED: !Join [":", [a, b]]
functions:
  plain:
    handler: index.handler
    events:
      - stream:
          arn: !GetAtt QueueTable.StreamArn
          filterPatterns:
            - dynamodb: { Keys: { uuid: { S: [{ prefix: "\${param:prefix}" }] } } }
              extra: ["\${param:extra}", "\${opt:region, 'us-east-1'}", "\${file(x.js):y}"]
      - schedule: rate(5 minutes)
      - schedule: { rate: ["rate(2 hours)"], enabled: true }
`;

  it("substitutes params (stage block over default, overrides over both) and leaves other sources as written", () => {
    const spec = parseServerlessSpec(yml, { stage: "xyzzy" });
    expect(functionSpec(spec, "plain").streams[0]?.filterPatterns).toEqual([
      {
        dynamodb: { Keys: { uuid: { S: [{ prefix: "xyzzy-dz642-" }] } } },
        extra: ["stage-only", "us-east-1", `\${file(x.js):y}`],
      },
    ]);
    const overridden = parseServerlessSpec(yml, { stage: "xyzzy", overrides: { clusterId: "qr1hi" } });
    expect(functionSpec(overridden, "plain").streams[0]?.filterPatterns[0]).toMatchObject({
      dynamodb: { Keys: { uuid: { S: [{ prefix: "qr1hi-dz642-" }] } } },
    });
  });

  it("gives a mapping AWS's defaults for what it leaves out, and the provider's timeout", () => {
    const plain = functionSpec(parseServerlessSpec(yml), "plain");
    expect(plain.timeoutMs).toBe(20_000);
    expect(plain.streams[0]).toMatchObject({
      batchSize: 100,
      maximumBatchingWindowMs: 0,
      bisectBatchOnFunctionError: false,
      maximumRetryAttempts: Number.POSITIVE_INFINITY,
      reportBatchItemFailures: false,
    });
    expect(plain.schedules.map((s) => s.rateMs)).toEqual([300_000, 7_200_000]);
  });

  it("reads rate() expressions and refuses a schedule it cannot emulate", () => {
    expect([rateToMs("rate(1 minute)"), rateToMs("rate(3 minutes)"), rateToMs("rate(1 day)")]).toEqual([
      60_000, 180_000, 86_400_000,
    ]);
    expect(rateToMs("cron(0 12 * * ? *)")).toBeUndefined();
    const cron = "functions:\n  f:\n    events:\n      - schedule: cron(0 12 * * ? *)\n";
    expect(() => parseServerlessSpec(cron)).toThrow(ServerlessSpecError);
  });
});
