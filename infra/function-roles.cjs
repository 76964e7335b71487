/**
 * One IAM role per function, each holding only the calls that function makes (serverless.yml
 * gives each function its `role`). Because every function names its own role, osls creates no
 * shared role and adds nothing: log writing, the stream reads of the stream consumers and their
 * failure-queue sends are granted here too.
 *
 * What each function calls, traced from functions/<name>/handler.ts (update this table with the
 * code; test/integration/deployment.test.ts holds it to exactly these sets):
 *   every function   SSM GetParameter of the token (lib/arvados/token-source.ts, via
 *                    lib/runtime/environment.ts), decrypted through SSM; dispatch-api reads the
 *                    ManagementToken's parameter instead, and no Arvados token.
 *   update-queue     a tick's claim (UpdateItem of #queue); Queue.update: update lease and
 *                    threshold (UpdateItem), cache read (GetItem of #queue, BatchGetItem of the
 *                    queue index, Scan to rebuild it), insert (PutItem), replace (UpdateItem),
 *                    delete (DeleteItem), index shards (PutItem); the last Arvados 503 it saw,
 *                    shared in the capacity state (GetItem, PutItem); SQS: its tick queue
 *                    (the event source mapping's receive/delete/attributes, SendMessage of the next tick).
 *   choose-instance-types  the entry (GetItem), its types (UpdateItem); an unsatisfiable one is
 *                    locked and cancelled (UpdateItem) and forgotten (DeleteItem); the last
 *                    Arvados 503 it saw, shared in the capacity state (GetItem, PutItem).
 *   launch           pass lease, entry claims, lock/unlock, recorded launch (UpdateItem); queue
 *                    read (GetItem, Scan); capacity state and launch tokens (GetItem, PutItem);
 *                    workers' idle-since records (GetItem of #workers); EC2 DescribeInstances,
 *                    RunInstances (tagged at creation), PassRole; order tags of workers
 *                    (CreateTags, DeleteTags of <prefix>Container:* keys); SQS: its wake queue
 *                    (the event source mapping's receive/delete/attributes, SendMessage).
 *   cleanup          queue read (GetItem, Scan); forget (DeleteItem); cancel, unlock, clear a
 *                    launch, retried type choice (UpdateItem, DeleteItem); capacity state
 *                    (GetItem, PutItem); workers' idle-since records (GetItem, UpdateItem of
 *                    #workers); EC2 DescribeInstances, TerminateInstances, kill orders (CreateTags
 *                    of <prefix>Container:* keys).
 *   dispatch-api     queue read (GetItem, Scan); EC2 DescribeInstances; CreateTags of the
 *                    IdleBehavior tag alone (hold, drain, run) and TerminateInstances (kill), on
 *                    this dispatcher's instances only.
 * Transactions would be authorised through these per-item actions; none is used today.
 * CommonJS because osls loads it with require() and the package is "type": "module".
 */
"use strict";

const stageValues = require("./stage-values.cjs");

const sub = (s) => ({ "Fn::Sub": s });
const ec2Arn = (resource) => sub(`arn:\${AWS::Partition}:ec2:\${AWS::Region}:\${AWS::AccountId}:${resource}`);

/** The DynamoDB item actions each function sends to the queue table. */
const tableActions = {
  "update-queue": ["GetItem", "BatchGetItem", "Scan", "PutItem", "UpdateItem", "DeleteItem"],
  "choose-instance-types": ["GetItem", "PutItem", "UpdateItem", "DeleteItem"],
  launch: ["GetItem", "BatchGetItem", "Query", "Scan", "PutItem", "UpdateItem"],
  cleanup: ["GetItem", "BatchGetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem"],
  "dispatch-api": ["GetItem", "Scan"],
};

/**
 * The delayed-message queue each function consumes (serverless.yml `sqs` events) and sends its
 * own next message to: update-queue's tick chain (infra/tick-queues.yml).
 */
const tickQueues = { "update-queue": "TickQueue" };
/** Functions that only send to the tick queue: launch's wake-ups, which update-queue relays. */
const tickSenders = { launch: "TickQueue" };

/** Functions invoked by the table's stream (serverless.yml `stream` events), with a failure queue. */
const streamConsumers = new Set(["choose-instance-types", "launch"]);

/** The role's logical id: `launch` → LaunchRole, `update-queue` → UpdateQueueRole. */
function roleLogicalId(fn) {
  return `${fn.replace(/(^|-)([a-z])/g, (_, _dash, c) => c.toUpperCase())}Role`;
}

/** Writing its own log group, which CloudFormation creates (so no CreateLogGroup). */
function logStatements(functionName) {
  return [
    {
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: sub(`arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/${functionName}:*`),
    },
  ];
}

/**
 * The function's one secret, and decrypting it only through SSM for that parameter: the
 * Arvados token, or for dispatch-api the ManagementToken.
 */
async function tokenStatements(fn, resolveVariable) {
  const arnOf = fn === "dispatch-api" ? stageValues.managementTokenParameterArn : stageValues.tokenParameterArn;
  const parameterArn = await arnOf({ resolveVariable });
  return [
    { Effect: "Allow", Action: ["ssm:GetParameter"], Resource: parameterArn },
    {
      Effect: "Allow",
      Action: ["kms:Decrypt"],
      Resource: sub("arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"),
      Condition: {
        StringEquals: {
          "kms:ViaService": sub("ssm.${AWS::Region}.amazonaws.com"),
          "kms:EncryptionContext:PARAMETER_ARN": parameterArn,
        },
      },
    },
  ];
}

/** Item reads and conditional writes on the queue table: only the actions this function sends. */
function tableStatements(fn) {
  const statements = [{ Effect: "Allow", Action: tableActions[fn].map((a) => `dynamodb:${a}`), Resource: { "Fn::GetAtt": ["QueueTable", "Arn"] } }];
  // Query reads the live entries from the table's `active` index (infra/queue-table.yml): its own ARN.
  if (tableActions[fn].includes("Query"))
    statements.push({ Effect: "Allow", Action: ["dynamodb:Query"], Resource: { "Fn::Sub": "${QueueTable.Arn}/index/active" } });
  return statements;
}

/** What Lambda's event source mapping does with the function's role: read the stream, park failures. */
function streamStatements() {
  return [
    {
      Effect: "Allow",
      Action: ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
      Resource: { "Fn::GetAtt": ["QueueTable", "StreamArn"] },
    },
    { Effect: "Allow", Action: ["sqs:SendMessage"], Resource: { "Fn::GetAtt": ["FailureQueue", "Arn"] } },
  ];
}

/** Lambda's SQS event source mapping (receive, delete, attributes) and the function's own sends, on its queue only. */
function tickQueueStatements(fn) {
  const queue = tickQueues[fn];
  const sendsTo = tickSenders[fn];
  if (sendsTo !== undefined) return [{ Effect: "Allow", Action: ["sqs:SendMessage"], Resource: { "Fn::GetAtt": [sendsTo, "Arn"] } }];
  if (queue === undefined) return [];
  return [
    {
      Effect: "Allow",
      Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:SendMessage"],
      Resource: { "Fn::GetAtt": [queue, "Arn"] },
    },
  ];
}

/** Describe* actions support no resource-level permissions. */
const describeInstances = { Effect: "Allow", Action: ["ec2:DescribeInstances"], Resource: "*" };

/**
 * RunInstances, split by the resources it touches (no key pair: the dispatcher never logs in to
 * its instances). The instance must be tagged as one of this dispatcher's (<prefix>InstanceSetID),
 * require IMDSv2 with a hop limit of 1 (lib/cloud/run-instances-input.ts), and boot the
 * configured image in the stage's subnets and security groups. Tags only in the launch request.
 */
async function launchStatements(resolveVariable) {
  const context = { resolveVariable };
  const instances = ec2Arn("instance/*");
  return [
    {
      Effect: "Allow",
      Action: ["ec2:RunInstances"],
      Resource: instances,
      Condition: { StringEquals: await stageValues.instanceSetRequestTag(context) },
    },
    {
      Effect: "Deny",
      Action: ["ec2:RunInstances"],
      Resource: instances,
      Condition: { StringNotEquals: { "ec2:MetadataHttpTokens": "required" } },
    },
    // A negated operator also matches a request that leaves the key out, which would get the
    // image's default (2 for an image registered with ImdsSupport v2.0): only 1 is allowed.
    {
      Effect: "Deny",
      Action: ["ec2:RunInstances"],
      Resource: instances,
      Condition: { NumericNotEquals: { "ec2:MetadataHttpPutResponseHopLimit": "1" } },
    },
    { Effect: "Allow", Action: ["ec2:RunInstances"], Resource: await stageValues.computeSubnetArns(context) },
    { Effect: "Allow", Action: ["ec2:RunInstances"], Resource: await stageValues.computeSecurityGroupArns(context) },
    { Effect: "Allow", Action: ["ec2:RunInstances"], Resource: await stageValues.imageArn(context) },
    {
      Effect: "Allow",
      Action: ["ec2:RunInstances"],
      Resource: [ec2Arn("network-interface/*"), ec2Arn("volume/*"), ec2Arn("spot-instances-request/*")],
    },
    // The TagSpecifications of the launch (instance and volume tags), never an existing resource.
    {
      Effect: "Allow",
      Action: ["ec2:CreateTags"],
      Resource: [instances, ec2Arn("volume/*")],
      Condition: { StringEquals: { "ec2:CreateAction": "RunInstances" } },
    },
    // Assigning containers to workers and removing stale orders (the worker channel).
    ...(await orderTagStatements(["ec2:CreateTags", "ec2:DeleteTags"], resolveVariable)),
    // Launching with the compute instance profile passes its role, to EC2 only.
    {
      Effect: "Allow",
      Action: ["iam:PassRole"],
      Resource: { "Fn::GetAtt": ["ComputeInstanceRole", "Arn"] },
      Condition: { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } },
    },
    describeInstances,
  ];
}

/**
 * The worker channel (issue #18): order tags `<prefix>Container:<uuid>` on this dispatcher's
 * instances and no other key. An order tag makes a worker's agent start crunch-run with the
 * dispatcher's token (lib/cloud/worker-channel.ts), so only launch (run orders, removing stale
 * ones) and cleanup (kill orders) may, each only with the calls it makes, in either WORKER_MODE
 * (cleanup manages pool workers left from a pool-mode run). `Null` refuses a request without
 * tag keys: ForAllValues holds for an empty set, and a DeleteTags naming no tag deletes them all.
 */
async function orderTagStatements(actions, resolveVariable) {
  const context = { resolveVariable };
  return [
    {
      Effect: "Allow",
      Action: actions,
      Resource: ec2Arn("instance/*"),
      Condition: {
        StringEquals: await stageValues.instanceSetResourceTag(context),
        "ForAllValues:StringLike": { "aws:TagKeys": [await stageValues.orderTagKeyPattern(context)] },
        Null: { "aws:TagKeys": "false" },
      },
    },
  ];
}

/** Terminate only this dispatcher's instances. */
async function cleanupStatements(resolveVariable) {
  return [
    ...(await orderTagStatements(["ec2:CreateTags"], resolveVariable)),
    {
      Effect: "Allow",
      Action: ["ec2:TerminateInstances"],
      Resource: ec2Arn("instance/*"),
      Condition: { StringEquals: await stageValues.instanceSetResourceTag({ resolveVariable }) },
    },
    describeInstances,
  ];
}

/**
 * The operator's actions through the dispatch API, on this dispatcher's instances only: set the
 * IdleBehavior tag (no other key, only upstream's three values) and terminate.
 */
async function dispatchApiStatements(resolveVariable) {
  const context = { resolveVariable };
  const ours = await stageValues.instanceSetResourceTag(context);
  const idleBehaviorKey = await stageValues.idleBehaviorTagKey(context);
  return [
    {
      Effect: "Allow",
      Action: ["ec2:CreateTags"],
      Resource: ec2Arn("instance/*"),
      Condition: {
        StringEquals: { ...ours, [`aws:RequestTag/${idleBehaviorKey}`]: ["run", "hold", "drain"] },
        "ForAllValues:StringEquals": { "aws:TagKeys": [idleBehaviorKey] },
      },
    },
    { Effect: "Allow", Action: ["ec2:TerminateInstances"], Resource: ec2Arn("instance/*"), Condition: { StringEquals: ours } },
    describeInstances,
  ];
}

/** The statements of one function's role. */
async function statementsFor(fn, functionName, resolveVariable) {
  return [
    ...logStatements(functionName),
    ...(await tokenStatements(fn, resolveVariable)),
    ...tableStatements(fn),
    ...(streamConsumers.has(fn) ? streamStatements() : []),
    ...tickQueueStatements(fn),
    ...(fn === "launch" ? await launchStatements(resolveVariable) : []),
    ...(fn === "cleanup" ? await cleanupStatements(resolveVariable) : []),
    ...(fn === "dispatch-api" ? await dispatchApiStatements(resolveVariable) : []),
  ];
}

/** The roles, one per function, as a serverless.yml `resources` entry. */
module.exports.resources = async ({ resolveVariable }) => {
  // The roles use most params: name every missing one, not just the first met.
  await stageValues.checkRequiredParams(resolveVariable);
  const service = await resolveVariable("self:service");
  const stage = await resolveVariable("sls:stage");
  const Resources = {};
  for (const fn of Object.keys(tableActions)) {
    const functionName = `${service}-${stage}-${fn}`;
    Resources[roleLogicalId(fn)] = {
      Type: "AWS::IAM::Role",
      Properties: {
        Description: `Arvados dispatcher ${stage}: the ${fn} function`,
        AssumeRolePolicyDocument: {
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
        },
        Policies: [
          {
            PolicyName: functionName,
            PolicyDocument: { Version: "2012-10-17", Statement: await statementsFor(fn, functionName, resolveVariable) },
          },
        ],
      },
    };
  }
  return { Resources };
};
