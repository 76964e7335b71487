import {
  CreateTagsCommand,
  type CreateTagsCommandInput,
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  type EC2Client,
  type Instance,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { classifyEc2Error } from "./classify.js";
import type { Ec2Error } from "../model/cloud-errors.js";
import { instanceTagKeys, tagRecord } from "./tags.js";

/** An instance of this dispatcher's instance set, as plain data. */
export interface CloudInstance {
  instanceId: string;
  /** The Arvados instance type name from the `<prefix>InstanceType` tag; absent if untagged. */
  instanceType?: string;
  /** The EC2 instance type. */
  providerType: string;
  /** EC2 state name: pending, running, stopping, stopped (never shutting-down or terminated). */
  state: string;
  /** ISO time EC2 launched it. */
  launchTime?: string;
  /** From the `<prefix>ContainerUUID` tag. */
  containerUuid?: string;
  spot: boolean;
  /** True when the `<prefix>Worker` tag marks a pool worker of ours. */
  worker: boolean;
  tags: Record<string, string>;
  subnetId?: string;
  privateIp?: string;
}

/** Which instances to list: those tagged `<tagKeyPrefix>InstanceSetID = instanceSetId` (§4.1 sync). */
export interface ListInstancesArgs {
  tagKeyPrefix: string;
  instanceSetId: string;
  /** §4.3 throttleDelayInstances, kept apart from the launch throttle. */
  throttleDelayMs?: number;
  /** Instances per page (EC2 allows 5–1000). */
  pageSize?: number;
  now?: () => Date;
}

/** The DescribeInstances input for one page of the instance set (§4.3 Instances). */
export function buildDescribeInstancesInput(
  args: Pick<ListInstancesArgs, "tagKeyPrefix" | "instanceSetId" | "pageSize">,
  nextToken?: string,
): DescribeInstancesCommandInput {
  return {
    Filters: [{ Name: `tag:${instanceTagKeys(args.tagKeyPrefix).instanceSetId}`, Values: [args.instanceSetId] }],
    MaxResults: args.pageSize ?? 1000,
    ...(nextToken ? { NextToken: nextToken } : {}),
  };
}

// §4.3: instances on their way out are not part of the set.
const gone: ReadonlySet<string> = new Set(["shutting-down", "terminated"]);

/**
 * Every live instance of the instance set (§4.3 Instances): DescribeInstances with a tag filter,
 * paged until NextToken is absent or "", skipping shutting-down and terminated instances.
 * Blocks for one call per page. Rejects with a classified error (a throttle carries the next
 * `throttleDelayMs`); after a success the delay to store is 0.
 */
export async function listInstances(ec2: EC2Client, args: ListInstancesArgs): Promise<CloudInstance[]> {
  const keys = instanceTagKeys(args.tagKeyPrefix);
  const out: CloudInstance[] = [];
  let nextToken: string | undefined;
  do {
    let page: Awaited<ReturnType<typeof describe>>;
    try {
      page = await describe(ec2, buildDescribeInstancesInput(args, nextToken));
    } catch (err) {
      throw classifyEc2Error(err, { throttleDelayMs: args.throttleDelayMs ?? 0, now: args.now?.() ?? new Date() });
    }
    for (const r of page.Reservations ?? []) {
      for (const inst of r.Instances ?? []) {
        const c = toCloudInstance(inst, keys);
        if (c && !gone.has(c.state)) out.push(c);
      }
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return out;
}

function describe(ec2: EC2Client, input: DescribeInstancesCommandInput) {
  return ec2.send(new DescribeInstancesCommand(input));
}

function toCloudInstance(inst: Instance, keys: ReturnType<typeof instanceTagKeys>): CloudInstance | undefined {
  if (!inst.InstanceId) return undefined;
  const tags = tagRecord(inst.Tags);
  const c: CloudInstance = {
    instanceId: inst.InstanceId,
    providerType: inst.InstanceType ?? "",
    state: inst.State?.Name ?? "",
    spot: inst.InstanceLifecycle === "spot",
    worker: tags[keys.worker] === "pool",
    tags,
  };
  if (tags[keys.instanceType] !== undefined) c.instanceType = tags[keys.instanceType];
  if (tags[keys.containerUuid] !== undefined) c.containerUuid = tags[keys.containerUuid];
  if (inst.LaunchTime) c.launchTime = inst.LaunchTime.toISOString();
  if (inst.SubnetId) c.subnetId = inst.SubnetId;
  if (inst.PrivateIpAddress) c.privateIp = inst.PrivateIpAddress;
  return c;
}

/** EC2 takes at most this many instance ids per TerminateInstances call. */
export const terminateBatchSize = 1000;

/** One instance's state change reported by TerminateInstances. */
export interface TerminatedInstance {
  instanceId: string;
  previousState: string;
  currentState: string;
}

/** What terminateInstances did. */
export interface TerminateResult {
  terminated: TerminatedInstance[];
  /** Ids EC2 does not know (already gone): nothing to do for them. */
  notFound: string[];
}

/**
 * Terminate instances (upstream Destroy, batched). EC2 rejects a whole batch if one id is
 * unknown; then each id of that batch is retried alone, so an instance already gone never
 * keeps the others alive. Rejects with a classified error for any other failure.
 */
export async function terminateInstances(ec2: EC2Client, ids: readonly string[]): Promise<TerminateResult> {
  const result: TerminateResult = { terminated: [], notFound: [] };
  for (let i = 0; i < ids.length; i += terminateBatchSize) {
    const batch = ids.slice(i, i + terminateBatchSize);
    try {
      result.terminated.push(...(await terminate(ec2, batch)));
      continue;
    } catch (err) {
      const e = toError(err);
      if (!isNotFound(e)) throw e;
    }
    // One unknown id fails the whole batch: retry each id alone.
    for (const id of batch) {
      try {
        result.terminated.push(...(await terminate(ec2, [id])));
      } catch (err) {
        const e = toError(err);
        if (!isNotFound(e)) throw e;
        result.notFound.push(id);
      }
    }
  }
  return result;
}

async function terminate(ec2: EC2Client, ids: string[]): Promise<TerminatedInstance[]> {
  const reply = await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
  return (reply.TerminatingInstances ?? []).map((c) => ({
    instanceId: c.InstanceId ?? "",
    previousState: c.PreviousState?.Name ?? "",
    currentState: c.CurrentState?.Name ?? "",
  }));
}

function isNotFound(e: Ec2Error): boolean {
  return e.code === "InvalidInstanceID.NotFound";
}

function toError(err: unknown): Ec2Error {
  return classifyEc2Error(err, { throttleDelayMs: 0, now: new Date() });
}

/** The CreateTags input setting `tags` on `instanceIds` (upstream SetTags). */
export function buildCreateTagsInput(
  instanceIds: readonly string[],
  tags: Readonly<Record<string, string>>,
): CreateTagsCommandInput {
  return { Resources: [...instanceIds], Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) };
}

/** Set tags on instances (upstream SetTags). Rejects with a classified error. */
export async function createTags(
  ec2: EC2Client,
  instanceIds: readonly string[],
  tags: Readonly<Record<string, string>>,
): Promise<void> {
  try {
    await ec2.send(new CreateTagsCommand(buildCreateTagsInput(instanceIds, tags)));
  } catch (err) {
    throw toError(err);
  }
}
