/**
 * Values serverless.yml derives from the stage params at package time (offline: osls `require`s
 * this file and calls each export with its variable resolver). They live here, not in YAML,
 * because YAML cannot build an object key from a param (IAM tag-condition keys embed
 * TagKeyPrefix) nor turn a list param into a list of ARNs. CommonJS because osls loads it with
 * require() and the package is "type": "module".
 */
"use strict";

const partitionArn = "arn:${AWS::Partition}";
const ec2Arn = `${partitionArn}:ec2:\${AWS::Region}:\${AWS::AccountId}`;

/**
 * The params a stage must set (no default in serverless.yml). `npm run package` checks them all
 * before osls runs, so a stage missing several is told so in one line.
 */
const requiredParams = [
  "arvadosApiHost",
  "instanceSetId",
  "computeSubnetIds",
  "computeSecurityGroupIds",
  "computeVpcId",
  "imageId",
];

/** An error osls prints as its message alone: it prints a rejection's stack, which would be ours. */
function stageError(message) {
  const err = new Error(message);
  err.stack = message;
  return err;
}

/** A stage param's value, or an error naming the param and where to set it. */
async function param(resolveVariable, name) {
  let value;
  try {
    value = await resolveVariable(`param:${name}`);
  } catch (err) {
    // osls retries once the value this one depends on is resolved: let it.
    if (err && err.code === "MISSING_VARIABLE_DEPENDENCY") throw err;
    value = undefined;
  }
  if (value === undefined || value === null || String(value).trim() === "") {
    throw stageError(`stage param "${name}" is not set: add it to params.<stage> in serverless.yml or pass --param "${name}=..."`);
  }
  return value;
}

/** A list param given as a YAML list or as "a,b" (the form `--param` can carry). */
async function listParam(resolveVariable, name, pattern) {
  const raw = await param(resolveVariable, name);
  const items = (Array.isArray(raw) ? raw : String(raw).split(","))
    .map((item) => String(item).trim())
    .filter((item) => item !== "");
  if (items.length === 0) throw stageError(`stage param "${name}" must list at least one id`);
  for (const item of items) {
    if (!pattern.test(item)) throw stageError(`stage param "${name}": "${item}" does not match ${pattern}`);
  }
  return items;
}

/** A param holding one id of the given shape. */
async function idParam(resolveVariable, name, pattern) {
  const value = String(await param(resolveVariable, name)).trim();
  if (!pattern.test(value)) throw stageError(`stage param "${name}": "${value}" does not match ${pattern}`);
  return value;
}

/** The one line that tells a stage which required params it lacks (`npm run package` prints it too). */
function missingParamsMessage(stage, names) {
  return `stage ${stage} lacks the required params ${names.join(", ")}: add them to params.${stage} in serverless.yml or pass --param "<name>=<value>" for each`;
}

/** Resolves every required param; an error naming all the missing ones at once. */
async function checkRequiredParams(resolveVariable) {
  const missing = [];
  for (const name of requiredParams) {
    try {
      await param(resolveVariable, name);
    } catch (err) {
      if (err && err.code === "MISSING_VARIABLE_DEPENDENCY") throw err;
      missing.push(name);
    }
  }
  if (missing.length > 0) throw stageError(missingParamsMessage(await resolveVariable("sls:stage"), missing));
}

/** An optional param: its value, or "" when unset. */
async function optionalParam(resolveVariable, name) {
  const value = await resolveVariable(`param:${name}`);
  return value === undefined || value === null ? "" : String(value).trim();
}

/** `<TagKeyPrefix>InstanceSetID`: the tag every instance of this dispatcher carries (§4.1). */
async function instanceSetTagKey(resolveVariable) {
  return `${await param(resolveVariable, "tagKeyPrefix")}InstanceSetID`;
}

/** The ARN of an SSM parameter; a hierarchical name's leading "/" is not repeated. */
function parameterArn(name) {
  return {
    "Fn::Sub": `${partitionArn}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/${String(name).trim().replace(/^\//, "")}`,
  };
}

async function instanceSetId(resolveVariable) {
  return String(await param(resolveVariable, "instanceSetId")).trim();
}

module.exports = {
  requiredParams,
  missingParamsMessage,
  checkRequiredParams,

  /** Condition body: the request tags this instance as one of ours (RunInstances). */
  instanceSetRequestTag: async ({ resolveVariable }) => ({
    [`aws:RequestTag/${await instanceSetTagKey(resolveVariable)}`]: await instanceSetId(resolveVariable),
  }),

  /** Condition body: the resource is already tagged as one of ours (Terminate, later CreateTags). */
  instanceSetResourceTag: async ({ resolveVariable }) => ({
    [`aws:ResourceTag/${await instanceSetTagKey(resolveVariable)}`]: await instanceSetId(resolveVariable),
  }),

  /** ARN of the token's SSM parameter; a hierarchical name's leading "/" is not repeated. */
  tokenParameterArn: async ({ resolveVariable }) => parameterArn(await param(resolveVariable, "tokenParameterName")),

  /** ARN of the ManagementToken's SSM parameter (the dispatch API's credential). */
  managementTokenParameterArn: async ({ resolveVariable }) =>
    parameterArn(await param(resolveVariable, "managementTokenParameterName")),

  /** The worker channel's order tag keys (lib/cloud/worker-channel.ts), as an IAM StringLike pattern. */
  orderTagKeyPattern: async ({ resolveVariable }) => `${await param(resolveVariable, "tagKeyPrefix")}Container:*`,

  /** The IdleBehavior tag key: the only tag the dispatch API may set. */
  idleBehaviorTagKey: async ({ resolveVariable }) => `${await param(resolveVariable, "tagKeyPrefix")}IdleBehavior`,

  /** ARNs of the subnets compute instances may be launched in. */
  computeSubnetArns: async ({ resolveVariable }) =>
    (await listParam(resolveVariable, "computeSubnetIds", /^subnet-[0-9a-f]+$/)).map((id) => ({
      "Fn::Sub": `${ec2Arn}:subnet/${id}`,
    })),

  /** ARNs of the security groups compute instances may be launched with. */
  computeSecurityGroupArns: async ({ resolveVariable }) =>
    (await listParam(resolveVariable, "computeSecurityGroupIds", /^sg-[0-9a-f]+$/)).map((id) => ({
      "Fn::Sub": `${ec2Arn}:security-group/${id}`,
    })),

  /** ARN of the one image compute instances may boot (CloudVMs.ImageID; images have no account). */
  imageArn: async ({ resolveVariable }) => ({
    "Fn::Sub": `${partitionArn}:ec2:\${AWS::Region}::image/${await idParam(resolveVariable, "imageId", /^ami-[0-9a-f]+$/)}`,
  }),

  /** Condition body: credentials delivered to an instance in the compute VPC (and used from there). */
  computeVpcSource: async ({ resolveVariable }) => ({
    "aws:Ec2InstanceSourceVpc": await idParam(resolveVariable, "computeVpcId", /^vpc-[0-9a-f]+$/),
  }),

  /** Every alarm's actions: the stack's topic, plus the alarmTopicArn param when set. */
  alarmActions: async ({ resolveVariable }) => {
    const topicArn = await optionalParam(resolveVariable, "alarmTopicArn");
    return [{ Ref: "AlarmTopic" }, ...(topicArn === "" ? [] : [topicArn])];
  },

  /** The alarm topic's subscriptions: an e-mail one when the alarmEmail param is set. */
  alarmSubscriptions: async ({ resolveVariable }) => {
    const email = await optionalParam(resolveVariable, "alarmEmail");
    return email === "" ? [] : [{ Protocol: "email", Endpoint: email }];
  },
};
