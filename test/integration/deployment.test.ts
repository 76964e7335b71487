import { beforeAll, describe, expect, it } from "vitest";
import {
  cfnLint,
  cfnLintOnPath,
  type EventRuleProperties,
  type PackagedTemplate,
  PackagingError,
  type PolicyStatement,
  packageTemplate,
} from "../support/package-template.js";
import { emittedMetrics, metricNamespace } from "../support/metric-spec.js";
import { chooseInstanceTypesFilter, launchFilter, launchWakeFilter } from "../support/stream-filters.js";

// The deployment as an operator would package it for cluster xyzzy, required params on the
// command line (lists as "a,b"), everything else from serverless.yml's defaults.
const stage = "xyzzy";
const params = {
  arvadosApiHost: "xyzzy.example.org",
  instanceSetId: "xyzzy-gj3su-0123456789abcde",
  computeSubnetIds: "subnet-0aaa1111,subnet-0bbb2222",
  computeSecurityGroupIds: "sg-0ccc3333",
  computeVpcId: "vpc-0fff6666",
  imageId: "ami-0ddd4444eeee5555f",
};
const functionNames = ["update-queue", "choose-instance-types", "launch", "cleanup", "dispatch-api"] as const;

const sub = (s: string) => ({ "Fn::Sub": s });
/** The queue table's `active` index, as function-roles.cjs names it for Query. */
const activeIndexArn = sub(["$", "{QueueTable.Arn}/index/active"].join(""));
const getAtt = (logicalId: string, attribute: string) => ({ "Fn::GetAtt": [logicalId, attribute] });
const ec2Arn = (resource: string) => sub(`arn:\${AWS::Partition}:ec2:\${AWS::Region}:\${AWS::AccountId}:${resource}`);
const tokenParameterArn = sub(
  `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/arvados/xyzzy/dispatch-token`,
);
const managementTokenParameterArn = sub(
  `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/arvados/xyzzy/management-token`,
);

const alarmTopicArn = "arn:aws:sns:us-east-1:111122223333:on-call";

let t: PackagedTemplate;
/** The same stage with every optional notification param set, and pool mode. */
let notifying: PackagedTemplate;
beforeAll(async () => {
  [t, notifying] = await Promise.all([
    packageTemplate({ stage, params }),
    packageTemplate({ stage, params: { ...params, alarmEmail: "ops@example.org", alarmTopicArn, workerMode: "pool" } }),
  ]);
}, 120_000);

describe("packaging runs offline for any stage that has its params", () => {
  it("packages the dev stage from the placeholder params in serverless.yml, as `npm run package` does", async () => {
    const dev = await packageTemplate({ stage: "dev" });
    expect(dev.lambdaFunction("launch").properties.Environment.Variables.ARVADOS_API_HOST).toBe(
      "zzzzz.example.invalid",
    );
    expect(dev.statementsFor("launch", "ec2:RunInstances").flatMap((s) => [s.Resource].flat())).toContainEqual(
      ec2Arn("subnet/subnet-0f1e2d3c4b5a69788"),
    );
  }, 120_000);

  it("refuses a stage without its required params and names each missing one", async () => {
    const failure = await packageTemplate({ stage: "nosuchcluster" }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(PackagingError);
    const output = (failure as PackagingError).output;
    expect(output).toContain(
      "stage nosuchcluster lacks the required params arvadosApiHost, instanceSetId, computeSubnetIds, computeSecurityGroupIds, computeVpcId, imageId: " +
        'add them to params.nosuchcluster in serverless.yml or pass --param "<name>=<value>" for each',
    );
  }, 120_000);
});

describe("the packaged template passes cfn-lint, AWS's CloudFormation linter", () => {
  // cfn-lint is a Python tool: run where it is installed, reported as skipped where it is not.
  const lintable = cfnLintOnPath();
  const title = (what: string) => (lintable ? what : `${what} (NOT CHECKED: cfn-lint is not on PATH)`);

  it.skipIf(!lintable)(
    title("has no cfn-lint error, without and with every optional notification param"),
    async () => {
      for (const template of [t, notifying]) {
        const matches = await cfnLint(template.template);
        const errors = matches
          .filter((m) => m.Level === "Error")
          .map((m) => `${m.Rule.Id} ${m.Location.Path.join("/")}: ${m.Message}`);
        expect(errors).toEqual([]);
        const warnings = matches.filter((m) => m.Level !== "Error");
        if (warnings.length > 0)
          console.warn(`cfn-lint warnings:\n${warnings.map((m) => `${m.Rule.Id} ${m.Message}`).join("\n")}`);
      }
    },
    240_000,
  );
});

describe("every function is a prebuilt ESM bundle on nodejs22.x, arm64", () => {
  it.each(functionNames)("%s runs dist/<name>.zip's index.handler with the dispatcher's environment", (name) => {
    const fn = t.lambdaFunction(name).properties;
    expect(fn.Runtime).toBe("nodejs22.x");
    expect(fn.Architectures).toEqual(["arm64"]);
    expect(fn.Handler).toBe("index.handler");
    expect(fn.Code.S3Key).toMatch(new RegExp(`/${name}\\.zip$`));
    expect(fn.Environment.Variables).toEqual({
      QUEUE_TABLE_NAME: { Ref: "QueueTable" },
      DISPATCH_CONFIG: "/var/task/cluster-config.json",
      ARVADOS_CLUSTER_ID: "xyzzy",
      ARVADOS_API_HOST: "xyzzy.example.org",
      ARVADOS_API_TOKEN_PARAMETER: "/arvados/xyzzy/dispatch-token",
      // The same value the IAM conditions name, so RunInstances tags what the policy allows.
      INSTANCE_SET_ID: params.instanceSetId,
      COMPUTE_INSTANCE_PROFILE: { Ref: "ComputeInstanceProfile" },
      LOG_LEVEL: "INFO",
      NODE_OPTIONS: "--enable-source-maps",
      // The dispatch API's credential: the ManagementToken's parameter (its role reads no other).
      ...(name === "dispatch-api" ? { DISPATCH_MANAGEMENT_TOKEN_PARAMETER: "/arvados/xyzzy/management-token" } : {}),
      // Where each sends its own next tick or wake-up (infra/tick-queues.yml).
      ...(name === "update-queue" ? { TICK_QUEUE_URL: { Ref: "TickQueue" } } : {}),
      // launch alone reads WORKER_MODE (lib/runtime/worker-mode.ts); one instance per container by default.
      ...(name === "launch" ? { TICK_QUEUE_URL: { Ref: "TickQueue" }, WORKER_MODE: "per-container" } : {}),
    });
  });

  it("the workerMode stage param sets launch's WORKER_MODE", () => {
    expect(notifying.lambdaFunction("launch").properties.Environment.Variables.WORKER_MODE).toBe("pool");
    expect(notifying.lambdaFunction("cleanup").properties.Environment.Variables.WORKER_MODE).toBeUndefined();
  });
});

describe("schedules", () => {
  it("update-queue's watchdog runs every minute, for at most 60 s; no reserved concurrency (the update lease keeps updates one at a time)", () => {
    const fn = t.lambdaFunction("update-queue").properties;
    expect(fn.ReservedConcurrentExecutions).toBeUndefined();
    expect(fn.Timeout).toBe(60);
    expect(t.rulesTargeting("update-queue").map((r) => r.ScheduleExpression)).toEqual(["rate(1 minute)"]);
  });

  it("a watchdog run that fails is dropped, not retried for hours", () => {
    expect(t.eventInvokeConfig("update-queue")).toMatchObject({
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
  });

  it("launch sweeps the backlog every minute besides its stream", () => {
    expect(t.rulesTargeting("launch").map((r) => r.ScheduleExpression)).toEqual(["rate(1 minute)"]);
  });

  it("cleanup runs every minute and on every EC2 spot interruption warning", () => {
    const rules = t.rulesTargeting("cleanup");
    expect(rules.map((r) => r.ScheduleExpression).filter(Boolean)).toEqual(["rate(1 minute)"]);
    expect(rules.map((r) => r.EventPattern).filter(Boolean)).toEqual([
      { source: ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"] },
    ]);
    for (const rule of rules) expect(rule.State).toBe("ENABLED");
  });

  it("choose-instance-types has no schedule: only the stream invokes it", () => {
    expect(t.rulesTargeting("choose-instance-types")).toEqual([]);
  });

  it("dispatch-api has no schedule and no stream: only its URL invokes it", () => {
    expect(t.rulesTargeting("dispatch-api")).toEqual([]);
    expect(t.eventSourceMappings("dispatch-api")).toEqual([]);
  });
});

describe("tick event source mappings (DESIGN: pay for work, not for waiting)", () => {
  it("update-queue takes its ticks one at a time from its own queue, at most two at once", () => {
    expect(t.eventSourceMappings("update-queue")).toEqual([
      expect.objectContaining({
        EventSourceArn: getAtt("TickQueue", "Arn"),
        BatchSize: 1,
        ScalingConfig: { MaximumConcurrency: 2 },
        FunctionResponseTypes: ["ReportBatchItemFailures"],
      }),
    ]);
  });

  it("launch polls no queue of its own: its wake-ups go on the tick queue, relayed back through the stream's #launch-wake record", () => {
    const mappings = t.eventSourceMappings("launch");
    // Its one mapping is the table's stream.
    expect(mappings.map((m) => m.EventSourceArn)).toEqual([getAtt("QueueTable", "StreamArn")]);
    expect(
      t
        .resourcesOfType("AWS::SQS::Queue")
        .map(([id]) => id)
        .filter((id) => id !== "FailureQueue"),
    ).toEqual(["TickQueue"]);
  });

  it("a tick outlives no more than SQS's minimum retention, and comes back after a failure no sooner than the function's timeout", () => {
    for (const queue of ["TickQueue"]) {
      const { Properties } = t.resource<{ VisibilityTimeout: number; MessageRetentionPeriod: number }>(
        queue,
        "AWS::SQS::Queue",
      );
      expect(Properties.MessageRetentionPeriod).toBe(60);
      expect(Properties.VisibilityTimeout).toBeGreaterThanOrEqual(60);
    }
  });
});

describe("stream event source mappings", () => {
  const streamMappings = (name: string) =>
    t
      .eventSourceMappings(name)
      .filter((m) => JSON.stringify(m.EventSourceArn) === JSON.stringify(getAtt("QueueTable", "StreamArn")));
  it.each(["choose-instance-types", "launch"])(
    "%s reads the queue table's stream in small batches, reports failed items, bisects, retries 5 times, then parks the records' positions in the failure queue",
    (name) => {
      const mappings = streamMappings(name);
      expect(mappings).toHaveLength(1);
      expect(mappings[0]).toMatchObject({
        EventSourceArn: getAtt("QueueTable", "StreamArn"),
        StartingPosition: "TRIM_HORIZON",
        BatchSize: 10,
        MaximumBatchingWindowInSeconds: 2,
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 5,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
        DestinationConfig: { OnFailure: { Destination: getAtt("FailureQueue", "Arn") } },
      });
    },
  );

  it("choose-instance-types sees only inserted container entries (key <clusterId>-dz642-…)", () => {
    const [mapping] = streamMappings("choose-instance-types");
    expect(mapping?.FilterCriteria?.Filters.map((f) => JSON.parse(f.Pattern))).toEqual([
      chooseInstanceTypesFilter("xyzzy"),
    ]);
  });

  it("launch sees only launchable entries: Queued/Locked, priority not 0, types chosen, no instance", () => {
    const [mapping] = streamMappings("launch");
    expect(mapping?.FilterCriteria?.Filters.map((f) => JSON.parse(f.Pattern))).toEqual([
      launchFilter,
      launchWakeFilter,
    ]);
  });

  it("update-queue and cleanup are not stream consumers", () => {
    expect(streamMappings("update-queue")).toEqual([]);
    expect(streamMappings("cleanup")).toEqual([]);
  });
});

const table = ["GetItem", "Scan", "PutItem", "UpdateItem", "DeleteItem"].map((a) => `dynamodb:${a}`);
/** The event source mapping's calls on a tick queue, and the function's own sends of the next message. */
const tickQueue = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:SendMessage"];
const streamReads = [
  "dynamodb:DescribeStream",
  "dynamodb:GetRecords",
  "dynamodb:GetShardIterator",
  "dynamodb:ListStreams",
];
/** What every function does: write its log, read the token. */
const everyFunction = ["logs:CreateLogStream", "logs:PutLogEvents", "ssm:GetParameter", "kms:Decrypt"];

/** The calls each function makes, traced from its handler (see infra/function-roles.cjs). */
const grantedActions: Record<(typeof functionNames)[number], string[]> = {
  "update-queue": [...everyFunction, ...table, "dynamodb:BatchGetItem", ...tickQueue],
  "choose-instance-types": [
    ...everyFunction,
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    ...streamReads,
    "sqs:SendMessage",
  ],
  launch: [
    ...everyFunction,
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    ...streamReads,
    // Its wake-ups, sent to the tick queue (update-queue relays them); it polls no queue.
    "sqs:SendMessage",
    "ec2:DescribeInstances",
    "ec2:RunInstances",
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "iam:PassRole",
  ],
  cleanup: [
    ...everyFunction,
    ...table,
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "ec2:DescribeInstances",
    "ec2:TerminateInstances",
    "ec2:CreateTags",
  ],
  "dispatch-api": [
    ...everyFunction,
    "dynamodb:GetItem",
    "dynamodb:Scan",
    "ec2:DescribeInstances",
    "ec2:CreateTags",
    "ec2:TerminateInstances",
  ],
};

/** The worker channel's tags (issue #18): `<prefix>Container:*` keys alone, on this dispatcher's instances. */
const orderTags = (actions: string[], prefix = "Arvados") => ({
  Effect: "Allow",
  Action: actions,
  Resource: ec2Arn("instance/*"),
  Condition: {
    StringEquals: { [`aws:ResourceTag/${prefix}InstanceSetID`]: params.instanceSetId },
    "ForAllValues:StringLike": { "aws:TagKeys": [`${prefix}Container:*`] },
    Null: { "aws:TagKeys": "false" },
  },
});

const allowed = (statements: PolicyStatement[]) =>
  [...new Set(statements.filter((s) => s.Effect === "Allow").flatMap((s) => s.Action))].sort();

describe("each function has its own role, granting only the calls it makes", () => {
  it("every function runs with a role of its own, and osls creates no shared one", () => {
    const roles = functionNames.map((name) => t.functionRole(name));
    expect(new Set(roles).size).toBe(functionNames.length);
    expect(t.template.Resources.IamRoleLambdaExecution).toBeUndefined();
    for (const role of roles) {
      const { Properties } = t.resource<{ AssumeRolePolicyDocument: { Statement: unknown[] } }>(role, "AWS::IAM::Role");
      expect(Properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
      ]);
    }
  });

  it.each(functionNames)("%s is allowed exactly the actions it sends, nothing more", (name) => {
    expect(allowed(t.functionStatements(name))).toEqual([...grantedActions[name]].sort());
  });

  it.each(["update-queue", "choose-instance-types"] as const)("%s may make no EC2 call and pass no role", (name) => {
    const actions = t.functionStatements(name).flatMap((s) => s.Action);
    expect(actions.filter((a) => a.startsWith("ec2:") || a.startsWith("iam:"))).toEqual([]);
  });

  it("never grants a wildcard action, and a wildcard resource only for DescribeInstances", () => {
    for (const name of functionNames) {
      const statements = t.functionStatements(name);
      for (const s of statements) for (const action of s.Action) expect(action).not.toMatch(/\*/);
      const anyResource = statements.filter((s) => JSON.stringify(s.Resource).includes('"*"'));
      const lists = name === "launch" || name === "cleanup" || name === "dispatch-api";
      expect(
        anyResource.map((s) => s.Action),
        name,
      ).toEqual(lists ? [["ec2:DescribeInstances"]] : []);
    }
  });

  it("each function writes only its own log group", () => {
    for (const name of functionNames) {
      expect(t.statementsFor(name, "logs:PutLogEvents").map((s) => s.Resource)).toEqual([
        sub(
          `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/arvados-dispatch-xyzzy-${name}:*`,
        ),
      ]);
    }
  });

  it("DynamoDB item actions apply to the queue table alone (Query also to its `active` index); stream reads to its stream alone", () => {
    for (const name of functionNames) {
      const statements = t.functionStatements(name);
      const items = statements.filter((s) =>
        s.Action.some((a) => a.startsWith("dynamodb:") && !streamReads.includes(a)),
      );
      const queries = name === "launch" || name === "cleanup";
      expect(
        items.map((s) => s.Resource),
        name,
      ).toEqual([getAtt("QueueTable", "Arn"), ...(queries ? [activeIndexArn] : [])]);
      for (const s of t.statementsFor(name, "dynamodb:Query").slice(1)) expect(s.Action).toEqual(["dynamodb:Query"]);
      for (const s of t.statementsFor(name, "dynamodb:GetRecords"))
        expect(s.Resource).toEqual(getAtt("QueueTable", "StreamArn"));
    }
  });

  it("only the stream consumers read the stream and send to the failure queue (their mappings' on-failure destination)", () => {
    for (const name of functionNames) {
      const consumer = name === "choose-instance-types" || name === "launch";
      expect(t.statementsFor(name, "dynamodb:GetRecords").length, name).toBe(consumer ? 1 : 0);
      const tickQueue =
        name === "update-queue" ? [getAtt("TickQueue", "Arn")] : name === "launch" ? [getAtt("TickQueue", "Arn")] : [];
      expect(
        t.statementsFor(name, "sqs:SendMessage").map((s) => s.Resource),
        name,
      ).toEqual([...(consumer ? [getAtt("FailureQueue", "Arn")] : []), ...tickQueue]);
    }
  });

  it("every function reads only its one secret's parameter, decrypting it only through SSM: the token, or for dispatch-api the ManagementToken", () => {
    for (const name of functionNames) {
      const parameter = name === "dispatch-api" ? managementTokenParameterArn : tokenParameterArn;
      expect(
        t.statementsFor(name, "ssm:GetParameter").map((s) => [s.Resource, s.Condition]),
        name,
      ).toEqual([[parameter, undefined]]);
      expect(
        t.statementsFor(name, "kms:Decrypt").map((s) => s.Condition),
        name,
      ).toEqual([
        {
          StringEquals: {
            "kms:ViaService": sub(`ssm.\${AWS::Region}.amazonaws.com`),
            "kms:EncryptionContext:PARAMETER_ARN": parameter,
          },
        },
      ]);
    }
  });
});

describe("launch may start only this dispatcher's instances, of the configured image, with IMDSv2 and hop limit 1", () => {
  it("RunInstances may create only instances tagged with this dispatcher's instance set id", () => {
    const onInstances = t
      .statementsFor("launch", "ec2:RunInstances")
      .filter((s) => s.Effect === "Allow" && JSON.stringify(s.Resource).includes(":instance/"));
    expect(onInstances).toEqual([
      {
        Effect: "Allow",
        Action: ["ec2:RunInstances"],
        Resource: ec2Arn("instance/*"),
        Condition: { StringEquals: { "aws:RequestTag/ArvadosInstanceSetID": params.instanceSetId } },
      },
    ]);
  });

  it("RunInstances is denied unless the instance requires IMDSv2 tokens and its hop limit is 1 (a request leaving it out included)", () => {
    expect(t.functionStatements("launch").filter((s) => s.Effect === "Deny")).toEqual([
      {
        Effect: "Deny",
        Action: ["ec2:RunInstances"],
        Resource: ec2Arn("instance/*"),
        Condition: { StringNotEquals: { "ec2:MetadataHttpTokens": "required" } },
      },
      {
        Effect: "Deny",
        Action: ["ec2:RunInstances"],
        Resource: ec2Arn("instance/*"),
        Condition: { NumericNotEquals: { "ec2:MetadataHttpPutResponseHopLimit": "1" } },
      },
    ]);
  });

  it("RunInstances may use only the stage's subnets, security groups and image, plus interfaces, volumes, spot requests", () => {
    const others = t
      .statementsFor("launch", "ec2:RunInstances")
      .filter((s) => s.Effect === "Allow" && !JSON.stringify(s.Resource).includes(":instance/"));
    for (const s of others) expect(s.Condition).toBeUndefined();
    expect(others.flatMap((s) => [s.Resource].flat())).toEqual([
      ec2Arn("subnet/subnet-0aaa1111"),
      ec2Arn("subnet/subnet-0bbb2222"),
      ec2Arn("security-group/sg-0ccc3333"),
      sub(`arn:\${AWS::Partition}:ec2:\${AWS::Region}::image/${params.imageId}`),
      ec2Arn("network-interface/*"),
      ec2Arn("volume/*"),
      ec2Arn("spot-instances-request/*"),
    ]);
  });

  it("the image is the configured ImageID alone: no image wildcard anywhere", () => {
    const images = t
      .functionStatements("launch")
      .flatMap((s) => [s.Resource].flat())
      .filter((r) => JSON.stringify(r).includes(":image/"));
    expect(images).toEqual([sub(`arn:\${AWS::Partition}:ec2:\${AWS::Region}::image/${params.imageId}`)]);
  });

  it("CreateTags in the launch request (its instance and volume tags), and on existing instances only the worker channel's order tags", () => {
    expect(t.statementsFor("launch", "ec2:CreateTags")).toEqual([
      {
        Effect: "Allow",
        Action: ["ec2:CreateTags"],
        Resource: [ec2Arn("instance/*"), ec2Arn("volume/*")],
        Condition: { StringEquals: { "ec2:CreateAction": "RunInstances" } },
      },
      orderTags(["ec2:CreateTags", "ec2:DeleteTags"]),
    ]);
    expect(t.statementsFor("cleanup", "ec2:CreateTags")).toEqual([orderTags(["ec2:CreateTags"])]);
    for (const name of ["update-queue", "choose-instance-types"] as const)
      expect(t.statementsFor(name, "ec2:CreateTags")).toEqual([]);
  });

  it("DeleteTags only by launch (stale orders), only of order tag keys, never a request naming no key", () => {
    expect(t.statementsFor("launch", "ec2:DeleteTags")).toEqual([orderTags(["ec2:CreateTags", "ec2:DeleteTags"])]);
    for (const name of functionNames.filter((n) => n !== "launch"))
      expect(t.statementsFor(name, "ec2:DeleteTags"), name).toEqual([]);
  });

  it("PassRole only for the compute role, only to EC2", () => {
    expect(t.statementsFor("launch", "iam:PassRole")).toEqual([
      {
        Effect: "Allow",
        Action: ["iam:PassRole"],
        Resource: getAtt("ComputeInstanceRole", "Arn"),
        Condition: { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } },
      },
    ]);
  });
});

describe("cleanup and the dispatch API may terminate only this dispatcher's instances", () => {
  it("TerminateInstances only on instances tagged with this dispatcher's instance set id, and only by cleanup and dispatch-api (kill)", () => {
    for (const name of ["cleanup", "dispatch-api"] as const) {
      expect(t.statementsFor(name, "ec2:TerminateInstances"), name).toEqual([
        {
          Effect: "Allow",
          Action: ["ec2:TerminateInstances"],
          Resource: ec2Arn("instance/*"),
          Condition: { StringEquals: { "aws:ResourceTag/ArvadosInstanceSetID": params.instanceSetId } },
        },
      ]);
    }
    for (const name of functionNames.filter((n) => n !== "cleanup" && n !== "dispatch-api")) {
      expect(t.statementsFor(name, "ec2:TerminateInstances")).toEqual([]);
    }
  });

  it("dispatch-api may set only the IdleBehavior tag, only to upstream's values, only on this dispatcher's instances", () => {
    expect(t.statementsFor("dispatch-api", "ec2:CreateTags")).toEqual([
      {
        Effect: "Allow",
        Action: ["ec2:CreateTags"],
        Resource: ec2Arn("instance/*"),
        Condition: {
          StringEquals: {
            "aws:ResourceTag/ArvadosInstanceSetID": params.instanceSetId,
            "aws:RequestTag/ArvadosIdleBehavior": ["run", "hold", "drain"],
          },
          "ForAllValues:StringEquals": { "aws:TagKeys": ["ArvadosIdleBehavior"] },
        },
      },
    ]);
  });

  it("honours the cluster's TagKeyPrefix in every tag condition", async () => {
    const crunch = await packageTemplate({ stage, params: { ...params, tagKeyPrefix: "Crunch" } });
    expect(crunch.statementsFor("cleanup", "ec2:TerminateInstances")[0]?.Condition).toEqual({
      StringEquals: { "aws:ResourceTag/CrunchInstanceSetID": params.instanceSetId },
    });
    expect(crunch.statementsFor("launch", "ec2:RunInstances")[0]?.Condition).toEqual({
      StringEquals: { "aws:RequestTag/CrunchInstanceSetID": params.instanceSetId },
    });
    expect(crunch.statementsFor("dispatch-api", "ec2:CreateTags")[0]?.Condition).toEqual({
      StringEquals: {
        "aws:ResourceTag/CrunchInstanceSetID": params.instanceSetId,
        "aws:RequestTag/CrunchIdleBehavior": ["run", "hold", "drain"],
      },
      "ForAllValues:StringEquals": { "aws:TagKeys": ["CrunchIdleBehavior"] },
    });
    expect(crunch.statementsFor("cleanup", "ec2:CreateTags")).toEqual([orderTags(["ec2:CreateTags"], "Crunch")]);
    expect(JSON.stringify(functionNames.map((n) => crunch.functionStatements(n)))).not.toContain(
      "ArvadosInstanceSetID",
    );
  }, 120_000);
});

describe("the dispatch API is a Lambda Function URL guarded by upstream's own token check", () => {
  const urlLogicalId = "DispatchDashapiLambdaFunctionUrl";

  it("has a URL with no IAM auth (the ManagementToken is checked by the function), invocable through that URL", () => {
    const url = t.resource<{ AuthType: string; TargetFunctionArn: unknown; Cors?: unknown }>(
      urlLogicalId,
      "AWS::Lambda::Url",
    );
    expect(url.Properties).toEqual({ AuthType: "NONE", TargetFunctionArn: t.functionArn("dispatch-api") });
    const permissions = t
      .resourcesOfType<{
        FunctionName: unknown;
        Action: string;
        Principal: string;
        FunctionUrlAuthType?: string;
        InvokedViaFunctionUrl?: boolean;
      }>("AWS::Lambda::Permission")
      .map(([, r]) => r.Properties)
      .filter((p) => JSON.stringify(p.FunctionName) === JSON.stringify(t.functionArn("dispatch-api")));
    expect(permissions).toEqual([
      {
        FunctionName: t.functionArn("dispatch-api"),
        Action: "lambda:InvokeFunctionUrl",
        Principal: "*",
        FunctionUrlAuthType: "NONE",
      },
      {
        FunctionName: t.functionArn("dispatch-api"),
        Action: "lambda:InvokeFunction",
        Principal: "*",
        InvokedViaFunctionUrl: true,
      },
    ]);
  });

  it("no other function has a URL", () => {
    const targets = t
      .resourcesOfType<{ TargetFunctionArn: unknown }>("AWS::Lambda::Url")
      .map(([, r]) => JSON.stringify(r.Properties.TargetFunctionArn));
    expect(targets).toEqual([JSON.stringify(t.functionArn("dispatch-api"))]);
  });

  it("its reserved concurrency caps what anyone can make it cost; short timeout, small memory", () => {
    expect(t.lambdaFunction("dispatch-api").properties).toMatchObject({
      ReservedConcurrentExecutions: 4,
      Timeout: 10,
      MemorySize: 256,
    });
  });

  it("the stack outputs the URL to put in Services.DispatchCloud.InternalURLs", () => {
    expect(t.template.Outputs?.DispatchApiUrl?.Value).toEqual(getAtt(urlLogicalId, "FunctionUrl"));
  });

  it("reads the queue table but never writes it", () => {
    const actions = t
      .functionStatements("dispatch-api")
      .flatMap((s) => s.Action)
      .filter((a) => a.startsWith("dynamodb:"));
    expect(actions.sort()).toEqual(["dynamodb:GetItem", "dynamodb:Scan"]);
  });
});

describe("the compute instances' role", () => {
  it("is assumable by EC2 and may only read (and decrypt) the token parameter", () => {
    const role = t.resource<{ AssumeRolePolicyDocument: { Statement: unknown[] } }>(
      "ComputeInstanceRole",
      "AWS::IAM::Role",
    );
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" },
    ]);
    const statements = t.roleStatements("ComputeInstanceRole");
    expect(statements.map((s) => [s.Action, s.Resource])).toEqual([
      [["ssm:GetParameter"], tokenParameterArn],
      [["kms:Decrypt"], sub(`arn:\${AWS::Partition}:kms:\${AWS::Region}:\${AWS::AccountId}:key/*`)],
    ]);
    expect(statements[1]?.Condition?.StringEquals?.["kms:EncryptionContext:PARAMETER_ARN"]).toEqual(tokenParameterArn);
  });

  it("reads the token only with credentials EC2 delivered to an instance in the compute VPC", () => {
    const [read] = t.roleStatements("ComputeInstanceRole");
    expect(read?.Condition).toEqual({ StringEquals: { "aws:Ec2InstanceSourceVpc": params.computeVpcId } });
  });

  it("is the one role in the instance profile the functions are told about", () => {
    const profile = t.resource<{ Roles: unknown[] }>("ComputeInstanceProfile", "AWS::IAM::InstanceProfile");
    expect(profile.Properties.Roles).toEqual([{ Ref: "ComputeInstanceRole" }]);
  });
});

interface AlarmProperties {
  Namespace?: string;
  MetricName?: string;
  Dimensions?: { Name: string; Value: unknown }[];
  Statistic?: string;
  Period?: number;
  Threshold: number | string;
  ComparisonOperator: string;
  EvaluationPeriods: number;
  TreatMissingData: string;
  AlarmActions: unknown[];
  OKActions: unknown[];
  Metrics?: {
    Id: string;
    Expression?: string;
    MetricStat?: { Metric: { MetricName: string; Dimensions: { Name: string; Value: string }[] } };
  }[];
}

describe("alarms", () => {
  const alarm = (logicalId: string) => t.resource<AlarmProperties>(logicalId, "AWS::CloudWatch::Alarm").Properties;

  it.each([
    ["UpdateFailuresAlarm", "update-queue", "UpdateFailures"],
    ["LaunchFailuresAlarm", "launch", "LaunchFailures"],
  ])("%s fires when %s reports %s > 0 over several periods", (logicalId, service, metric) => {
    const a = alarm(logicalId);
    expect(a).toMatchObject({
      Namespace: "ArvadosDispatch",
      MetricName: metric,
      Dimensions: [
        { Name: "service", Value: service },
        { Name: "ClusterID", Value: "xyzzy" },
      ],
      Statistic: "Sum",
      Threshold: 0,
      ComparisonOperator: "GreaterThanThreshold",
      TreatMissingData: "notBreaching",
    });
    expect(a.EvaluationPeriods).toBeGreaterThan(1);
  });

  it("each alarm on a dispatcher metric queries it with a dimension set it is emitted with, for the stage's cluster", () => {
    const onDispatcherMetrics = t
      .resourcesOfType<AlarmProperties>("AWS::CloudWatch::Alarm")
      .filter(([, a]) => a.Properties.Namespace === metricNamespace);
    expect(onDispatcherMetrics.length).toBe(4);
    for (const [id, { Properties: a }] of onDispatcherMetrics) {
      const dimensions = a.Dimensions ?? [];
      const service = String(dimensions.find((d) => d.Name === "service")?.Value);
      const emitted = emittedMetrics[service]?.[a.MetricName ?? ""] ?? [];
      expect(
        emitted.map((d) => d.join()),
        id,
      ).toContain(dimensions.map((d) => d.Name).join());
      expect(dimensions, id).toContainEqual({ Name: "ClusterID", Value: "xyzzy" });
    }
  });

  it("the failure-queue alarm fires on the first message parked there", () => {
    expect(alarm("FailureQueueNotEmptyAlarm")).toMatchObject({
      Namespace: "AWS/SQS",
      MetricName: "ApproximateNumberOfMessagesVisible",
      Dimensions: [{ Name: "QueueName", Value: getAtt("FailureQueue", "QueueName") }],
      Threshold: 0,
      ComparisonOperator: "GreaterThanThreshold",
    });
  });

  it("the queued-too-long alarm compares the oldest launchable container's age with the stage threshold", () => {
    expect(alarm("OldestQueuedContainerAgeAlarm")).toMatchObject({
      Namespace: "ArvadosDispatch",
      MetricName: "OldestQueuedContainerAgeSeconds",
      Dimensions: [
        { Name: "service", Value: "launch" },
        { Name: "ClusterID", Value: "xyzzy" },
      ],
      Statistic: "Maximum",
      Threshold: 1800,
      ComparisonOperator: "GreaterThanThreshold",
    });
  });

  it("the function-errors alarm sums Lambda errors of every function", () => {
    const metrics = alarm("FunctionErrorsAlarm").Metrics ?? [];
    expect(metrics.flatMap((m) => m.MetricStat?.Metric.Dimensions.map((d) => d.Value) ?? [])).toEqual(
      functionNames.map((n) => `arvados-dispatch-xyzzy-${n}`),
    );
  });

  it("every alarm notifies the stage's alarm topic alone when no other topic or e-mail is given", () => {
    for (const [id, a] of t.resourcesOfType<AlarmProperties>("AWS::CloudWatch::Alarm")) {
      expect(a.Properties.AlarmActions, id).toEqual([{ Ref: "AlarmTopic" }]);
      expect(a.Properties.OKActions, id).toEqual([{ Ref: "AlarmTopic" }]);
    }
    expect(t.resource<{ Subscription: unknown[] }>("AlarmTopic", "AWS::SNS::Topic").Properties.Subscription).toEqual(
      [],
    );
  });

  it("alarmTopicArn is notified too and alarmEmail subscribed, when given", () => {
    for (const [id, a] of notifying.resourcesOfType<AlarmProperties>("AWS::CloudWatch::Alarm")) {
      expect(a.Properties.AlarmActions, id).toEqual([{ Ref: "AlarmTopic" }, alarmTopicArn]);
    }
    expect(
      notifying.resource<{ Subscription: unknown[] }>("AlarmTopic", "AWS::SNS::Topic").Properties.Subscription,
    ).toEqual([{ Protocol: "email", Endpoint: "ops@example.org" }]);
  });
});

describe("alarms for silence: what stops happening alarms too", () => {
  const alarm = (logicalId: string) => t.resource<AlarmProperties>(logicalId, "AWS::CloudWatch::Alarm").Properties;
  const functionName = (name: string) => `arvados-dispatch-xyzzy-${name}`;
  const metricStats = (a: AlarmProperties) =>
    (a.Metrics ?? []).flatMap((m) => (m.MetricStat === undefined ? [] : [m.MetricStat.Metric]));

  it("update-queue not invoked in two 5-minute periods alarms, no datapoint being the silence itself", () => {
    expect(alarm("UpdateQueueSilentAlarm")).toMatchObject({
      Namespace: "AWS/Lambda",
      MetricName: "Invocations",
      Dimensions: [{ Name: "FunctionName", Value: functionName("update-queue") }],
      Statistic: "Sum",
      Period: 300,
      EvaluationPeriods: 2,
      Threshold: 1,
      ComparisonOperator: "LessThanThreshold",
      TreatMissingData: "breaching",
    });
  });

  it("choose-instance-types reading stream records over 5 minutes old for 10 minutes alarms", () => {
    expect(alarm("TypeChoiceBehindAlarm")).toMatchObject({
      Namespace: "AWS/Lambda",
      MetricName: "IteratorAge",
      Dimensions: [{ Name: "FunctionName", Value: functionName("choose-instance-types") }],
      Statistic: "Maximum",
      Threshold: 300_000,
      ComparisonOperator: "GreaterThanThreshold",
      EvaluationPeriods: 2,
    });
  });

  it("Lambda throttling either stream function alarms", () => {
    const a = alarm("StreamThrottlesAlarm");
    expect(metricStats(a).map((m) => [m.MetricName, m.Dimensions.map((d) => d.Value)])).toEqual([
      ["Throttles", [functionName("choose-instance-types")]],
      ["Throttles", [functionName("launch")]],
    ]);
    expect(a).toMatchObject({ Threshold: 0, ComparisonOperator: "GreaterThanThreshold" });
  });

  it("orphan instances found by every cleanup pass for 15 minutes alarm (cleanup terminates those it finds)", () => {
    expect(alarm("OrphanInstancesPersistAlarm")).toMatchObject({
      Namespace: metricNamespace,
      MetricName: "OrphanInstances",
      Dimensions: [
        { Name: "service", Value: "cleanup" },
        { Name: "ClusterID", Value: "xyzzy" },
      ],
      Statistic: "Minimum",
      Period: 300,
      EvaluationPeriods: 3,
      Threshold: 0,
      ComparisonOperator: "GreaterThanThreshold",
    });
  });

  it("EventBridge failing to invoke the target of any of the dispatcher's rules alarms; each rule is named so the alarm can name it", () => {
    const rules = t
      .resourcesOfType<EventRuleProperties & { Name?: string }>("AWS::Events::Rule")
      .map(([, r]) => r.Properties.Name);
    expect(rules).toHaveLength(4);
    const watched = metricStats(alarm("ScheduleFailingAlarm")).map((m) => {
      expect(m.MetricName).toBe("FailedInvocations");
      return m.Dimensions.map((d) => d.Value).join();
    });
    expect(watched.sort()).toEqual([...rules].sort());
    expect(rules.sort()).toEqual(
      ["update-queue-tick", "launch-sweep", "cleanup-tick", "spot-interruption"]
        .map((r) => `arvados-dispatch-xyzzy-${r}`)
        .sort(),
    );
  });

  it("every alarm treats a missing datapoint as what it means for its metric", () => {
    const treatMissing = Object.fromEntries(
      t
        .resourcesOfType<AlarmProperties>("AWS::CloudWatch::Alarm")
        .map(([id, a]) => [id, a.Properties.TreatMissingData]),
    );
    expect(treatMissing).toEqual({
      // Emitted only when something goes wrong, or counted only when the function runs.
      UpdateFailuresAlarm: "notBreaching",
      FunctionErrorsAlarm: "notBreaching",
      FailureQueueNotEmptyAlarm: "notBreaching",
      LaunchFailuresAlarm: "notBreaching",
      TypeChoiceBehindAlarm: "notBreaching",
      StreamThrottlesAlarm: "notBreaching",
      ScheduleFailingAlarm: "notBreaching",
      // Emitted on every run: no datapoint is the function not running.
      OldestQueuedContainerAgeAlarm: "breaching",
      UpdateQueueSilentAlarm: "breaching",
      // No cleanup pass says nothing about orphans: keep the last state.
      OrphanInstancesPersistAlarm: "ignore",
    });
  });
});

describe("the dashboard", () => {
  interface Widget {
    type: string;
    properties: { metrics?: unknown[][]; alarms?: string[] };
  }
  const widgets = (): Widget[] => {
    const body = t.resource<{ DashboardBody: { "Fn::Sub": string } }>("Dashboard", "AWS::CloudWatch::Dashboard")
      .Properties.DashboardBody["Fn::Sub"];
    return (JSON.parse(body) as { widgets: Widget[] }).widgets;
  };

  it("graphs every metric each function emits, with the dimensions it is emitted with and the stage's cluster", () => {
    const all = widgets().flatMap((w) => w.properties.metrics ?? []);
    const graphed = new Set(
      all
        .filter(
          (m) =>
            m[0] === metricNamespace &&
            m[2] === "service" &&
            m[4] === "ClusterID" &&
            m[5] === "xyzzy" &&
            typeof m[6] === "object",
        )
        .map((m) => `${m[3]}/${m[1]}`),
    );
    const searches = all.flatMap((m) =>
      m.flatMap((x) => (typeof x === "object" && x !== null && "expression" in x ? [String(x.expression)] : [])),
    );
    for (const [fn, metrics] of Object.entries(emittedMetrics)) {
      for (const [metric, dimensionSets] of Object.entries(metrics)) {
        for (const dimensions of dimensionSets) {
          if (dimensions.join() === "service,ClusterID") {
            expect(graphed, `${fn}/${metric}`).toContain(`${fn}/${metric}`);
          } else {
            // Extra dimensions (state, type, reason): one line per value, from a SEARCH scoped to the cluster.
            const schema = `{${[metricNamespace, ...dimensions].join(",")}}`;
            const search = searches.find((e) => e.includes(schema) && e.includes(`MetricName="${metric}"`));
            expect(search, `${fn}/${metric} by ${dimensions.join()}`).toContain('ClusterID="xyzzy"');
          }
        }
      }
    }
  });

  it("lists each graph's metrics as arrays, an expression as [{ expression, id }] (PutDashboard rejects a bare object)", () => {
    for (const w of widgets().filter((w) => w.type === "metric")) {
      for (const m of w.properties.metrics ?? []) expect(Array.isArray(m), JSON.stringify(m)).toBe(true);
    }
  });

  it("shows the state of every alarm", () => {
    const alarmWidget = widgets().find((w) => w.type === "alarm");
    const alarms = t.resourcesOfType("AWS::CloudWatch::Alarm").map(([id]) => `\${${id}.Arn}`);
    expect(alarmWidget?.properties.alarms?.sort()).toEqual(alarms.sort());
  });
});
