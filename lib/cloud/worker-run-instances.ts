/**
 * Batched worker launches (pool mode, issue #18): one RunInstances with MinCount 1 and
 * MaxCount k starts up to k workers for the k containers of one pass that need the same type,
 * subnet and market, instead of one call per container: EC2's request bucket (burst 5, 2/s)
 * would make 500 containers wait 250 s for their calls alone, while its instance bucket allows a
 * burst of 1,000 instances (DESIGN "Workers that outlive containers").
 */
import { createHash } from "node:crypto";
import { type EC2Client, RunInstancesCommand, type RunInstancesCommandInput, type Tag } from "@aws-sdk/client-ec2";
import type { LaunchCall } from "../model/instance-cloud.js";
import { type Batch, batchKey } from "../model/worker-batch.js";
import {
  callOutcome,
  classifyEc2Error,
  ec2ApiFault,
  hasCapacityScope,
  isErrorCapacity,
  isErrorSubnetSpecific,
} from "./classify.js";
import { type LaunchState, subnetTries } from "./launch.js";
import { buildRunInstancesInput, type RunInstancesArgs } from "./run-instances-input.js";
import { instanceTagKeys } from "./tags.js";

/**
 * The ClientToken of one batched call: a SHA-256 hex (64 characters, EC2's limit) of the batch's
 * containers and attempts in launch-index order, the type name and the subnet. As for one
 * container (client-token.ts): EC2 binds a token to its first request's parameters, so every
 * (batch, type, subnet) gets its own, and a repeat of the same call reuses it.
 */
export function workerClientToken(batch: Batch, instanceTypeName: string, subnetId?: string): string {
  return createHash("sha256")
    .update(`worker\n${batchKey(batch).join(" ")}\n${instanceTypeName}\n${subnetId ?? ""}`)
    .digest("hex");
}

/** The arguments of one batched worker call. */
export interface WorkerRunInstancesArgs extends Omit<RunInstancesArgs, "containerUuid" | "attempt" | "clientToken"> {
  batch: Batch;
  /** An earlier call's token to send as is (a repeat); else derived. */
  clientToken?: string;
}

/**
 * The tags of a pool worker: the one-container tags without ContainerUUID (a worker runs many),
 * plus `<prefix>Worker = pool`, the mark cleanup needs before it ever terminates the instance.
 */
function workerTags(tags: readonly Tag[] | undefined, prefix: string, dropKey: string): Tag[] {
  const out = (tags ?? []).filter((t) => t.Key !== dropKey);
  out.push({ Key: instanceTagKeys(prefix).worker, Value: "pool" });
  return out;
}

/**
 * The complete RunInstances input of one batched worker call, built without I/O: as a
 * one-container launch (run-instances-input.ts: IMDSv2, hop limit 1, no public IP, terminate on
 * shutdown, spot, scratch) but MinCount 1, MaxCount k, tags of a worker, and instance tags in IMDS
 * (`InstanceMetadataTags: enabled`), which the agent reads its orders from.
 */
export function buildWorkerRunInstancesInput(args: WorkerRunInstancesArgs): RunInstancesCommandInput {
  const first = args.batch[0]?.[0];
  if (first === undefined || args.batch.some((members) => members.length === 0))
    throw new Error("BUG: a worker launch with an empty batch or launch index");
  const token = args.clientToken ?? workerClientToken(args.batch, args.instanceType.Name, args.subnetId);
  const input = buildRunInstancesInput({
    ...args,
    containerUuid: first.containerUuid,
    attempt: first.attempt,
    clientToken: token,
  });
  const prefix = args.config.TagKeyPrefix;
  const dropKey = instanceTagKeys(prefix).containerUuid;
  return {
    ...input,
    MinCount: 1,
    MaxCount: args.batch.length,
    TagSpecifications: (input.TagSpecifications ?? []).map((spec) => ({
      ...spec,
      Tags: workerTags(spec.Tags, prefix, dropKey),
    })),
    MetadataOptions: { ...input.MetadataOptions, InstanceMetadataTags: "enabled" },
  };
}

/** What a batched call started. */
export interface WorkerLaunchResult {
  instances: { instanceId: string; launchIndex: number }[];
  subnetId: string | undefined;
  clientToken: string;
  nextSubnetIndex: number;
}

/**
 * Starts up to k workers with one RunInstances per subnet tried (§4.3 subnet loop, or exactly
 * `repeat`), `beforeCall` awaited before each call is sent (the caller writes its intents there).
 * EC2 may start fewer than k (MinCount 1): the reply's AmiLaunchIndex says which batch positions
 * got an instance; the others are the caller's to leave for the next pass. Rejects with the
 * classified error, as launchInstance does (an unknown outcome ends the loop).
 */
export async function launchWorkers(
  ec2: EC2Client,
  args: Omit<WorkerRunInstancesArgs, "subnetId" | "clientToken">,
  state: LaunchState,
  options: {
    repeat?: LaunchCall;
    beforeCall?: (call: LaunchCall, follows: LaunchCall | undefined) => Promise<void>;
    onAttempt?: (attempt: { subnetId: string; success: boolean }) => void;
    now?: () => Date;
  } = {},
): Promise<WorkerLaunchResult> {
  const tries = subnetTries(args.config.DriverParameters.SubnetID, state.subnetIndex, options.repeat);
  let stored: { err: unknown; capacity: boolean; subnetId: string | undefined } | undefined;
  let tryIndex = tries[0]?.index ?? 0;
  let follows: LaunchCall | undefined;
  for (const [n, { subnetId, index }] of tries.entries()) {
    tryIndex = index;
    const input = buildWorkerRunInstancesInput({
      ...args,
      ...(subnetId === undefined ? {} : { subnetId }),
      ...(options.repeat === undefined ? {} : { clientToken: options.repeat.clientToken }),
    });
    const call: LaunchCall = { subnetId, clientToken: input.ClientToken ?? "" };
    await options.beforeCall?.(call, follows);
    try {
      const reply = await ec2.send(new RunInstancesCommand(input));
      options.onAttempt?.({ subnetId: subnetId ?? "", success: true });
      const instances = (reply.Instances ?? []).flatMap((i) =>
        i.InstanceId === undefined ? [] : [{ instanceId: i.InstanceId, launchIndex: i.AmiLaunchIndex ?? 0 }],
      );
      if (instances.length === 0) throw new Error("BUG: RunInstances succeeded without an instance");
      return { instances, subnetId, clientToken: call.clientToken, nextSubnetIndex: tryIndex };
    } catch (err) {
      if (err instanceof Error && err.message.startsWith("BUG:")) throw err;
      options.onAttempt?.({ subnetId: subnetId ?? "", success: false });
      if (callOutcome(err) !== "failed") {
        stored = { err, capacity: false, subnetId };
        break;
      }
      const api = ec2ApiFault(err);
      const capacity = api !== undefined && hasCapacityScope(isErrorCapacity(api));
      if (!(stored?.capacity && !capacity)) stored = { err, capacity, subnetId };
      if (api !== undefined && isErrorSubnetSpecific(api) && n < tries.length - 1) {
        follows = call;
        continue;
      }
      break;
    }
  }
  throw classifyEc2Error(stored?.err, {
    throttleDelayMs: state.throttleDelayMs,
    now: options.now?.() ?? new Date(),
    instanceType: args.instanceType,
    quotaGroups: args.config.DriverParameters.InstanceTypeQuotaGroups,
    subnetId: stored?.subnetId,
    nextSubnetIndex: tryIndex,
  });
}
