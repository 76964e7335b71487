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
    throw new Error(`stage param "${name}" is not set: add it to params.<stage> in serverless.yml or pass --param "${name}=..."`);
  }
  return value;
}

/** A list param given as a YAML list or as "a,b" (the form `--param` can carry). */
async function listParam(resolveVariable, name, pattern) {
  const raw = await param(resolveVariable, name);
  const items = (Array.isArray(raw) ? raw : String(raw).split(","))
    .map((item) => String(item).trim())
    .filter((item) => item !== "");
  if (items.length === 0) throw new Error(`stage param "${name}" must list at least one id`);
  for (const item of items) {
    if (!pattern.test(item)) throw new Error(`stage param "${name}": "${item}" does not match ${pattern}`);
  }
  return items;
}

/** `<TagKeyPrefix>InstanceSetID`: the tag every instance of this dispatcher carries (§4.1). */
async function instanceSetTagKey(resolveVariable) {
  return `${await param(resolveVariable, "tagKeyPrefix")}InstanceSetID`;
}

async function instanceSetId(resolveVariable) {
  return String(await param(resolveVariable, "instanceSetId")).trim();
}

module.exports = {
  /** Condition body: the request tags this instance as one of ours (RunInstances). */
  instanceSetRequestTag: async ({ resolveVariable }) => ({
    [`aws:RequestTag/${await instanceSetTagKey(resolveVariable)}`]: await instanceSetId(resolveVariable),
  }),

  /** Condition body: the resource is already tagged as one of ours (Terminate, later CreateTags). */
  instanceSetResourceTag: async ({ resolveVariable }) => ({
    [`aws:ResourceTag/${await instanceSetTagKey(resolveVariable)}`]: await instanceSetId(resolveVariable),
  }),

  /** ARN of the token's SSM parameter; a hierarchical name's leading "/" is not repeated. */
  tokenParameterArn: async ({ resolveVariable }) => {
    const name = String(await param(resolveVariable, "tokenParameterName")).trim();
    return {
      "Fn::Sub": `${partitionArn}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/${name.replace(/^\//, "")}`,
    };
  },

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
};
