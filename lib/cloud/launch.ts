import {
  type EC2Client,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  type RunInstancesCommandOutput,
} from "@aws-sdk/client-ec2";
import {
  callOutcome,
  classifyEc2Error,
  ec2ApiFault,
  hasCapacityScope,
  isErrorCapacity,
  isErrorSubnetSpecific,
} from "./classify.js";
import type { LaunchCall } from "../model/instance-cloud.js";
import { buildRunInstancesInput, type RunInstancesArgs } from "./run-instances-input.js";

/** The launch state the caller stores between launches (upstream keeps it in the instance set). */
export interface LaunchState {
  /** §4.3 currentSubnetIDIndex: where the next launch starts its subnet loop. */
  subnetIndex: number;
  /** §4.3 throttleDelayCreate: the delay after the last RunInstances throttle, 0 if none. */
  throttleDelayMs: number;
}

/** A started instance. The throttle delay to store after a success is 0 (§4.3 wrapError). */
export interface LaunchResult {
  instanceId: string;
  subnetId: string | undefined;
  clientToken: string;
  /** The subnet index to store (§4.3: the index of the subnet that was used). */
  nextSubnetIndex: number;
  throttleDelayMs: 0;
}

/** Called after every RunInstances call (upstream `ec2_instance_starts_total{subnet_id,success}`). */
export type LaunchAttemptObserver = (attempt: { subnetId: string; success: boolean }) => void;

/** Options of launchInstance. */
export interface LaunchOptions {
  now?: () => Date;
  onAttempt?: LaunchAttemptObserver;
  /**
   * Awaited before each RunInstances call is sent, with the call and the earlier call of the
   * same launch it follows (whose failure EC2 confirmed: the subnet loop moves on only then). The
   * call is sent only once the hook has resolved; a rejection ends the launch with that
   * rejection and sends nothing. The launcher records its launch intent here.
   */
  beforeCall?: (call: LaunchCall, follows: LaunchCall | undefined) => Promise<void>;
  /**
   * Repeat one earlier call exactly: one RunInstances in this subnet (undefined: none) with this
   * ClientToken, whatever the configured subnets are now, and no subnet loop.
   */
  repeat?: LaunchCall;
}

/**
 * Start one instance (§4.3 Create with its subnet loop). Tries the configured subnets from
 * `state.subnetIndex` on, moving to the next one only after a subnet-specific error; with no
 * subnets, one call without a subnet; with `options.repeat`, that one call. Blocks for the
 * RunInstances calls (at most one per subnet).
 *
 * Rejects with the classified error of the failure (Ec2ThrottleError, Ec2QuotaError,
 * Ec2CapacityError, else Ec2Error), preferring the last capacity error seen over later other
 * errors, except that a call whose outcome is not a known failure (Ec2Error.outcome) ends the
 * loop and is the error reported: an instance may exist, so the caller must try nothing else for
 * this lock. The error carries `nextSubnetIndex` and `throttleDelayMs`, the state to store.
 */
export async function launchInstance(
  ec2: EC2Client,
  args: Omit<RunInstancesArgs, "subnetId" | "clientToken">,
  state: LaunchState,
  options: LaunchOptions = {},
): Promise<LaunchResult> {
  const { value: instanceId, ...call } = await runInstancesInSubnets(
    ec2,
    args,
    state,
    options,
    (subnetId, clientToken) =>
      buildRunInstancesInput({
        ...args,
        subnetId,
        ...(clientToken === undefined ? {} : { clientToken }),
      }),
    (reply) => {
      const id = reply.Instances?.[0]?.InstanceId;
      if (id === undefined) throw new Error("BUG: RunInstances succeeded without an instance id");
      return id;
    },
  );
  return { instanceId, ...call, throttleDelayMs: 0 };
}

/**
 * The §4.3 subnet loop shared by one-container and batched launches: one RunInstances per subnet
 * tried (`inputFor` builds it; a repeat passes its ClientToken), `options.beforeCall` awaited
 * before each is sent, moving on only after a subnet-specific error; `read` takes what the caller
 * needs from the reply. Rejects as launchInstance documents.
 */
export async function runInstancesInSubnets<T>(
  ec2: EC2Client,
  args: Pick<RunInstancesArgs, "config" | "instanceType">,
  state: LaunchState,
  options: LaunchOptions,
  inputFor: (subnetId: string | undefined, clientToken: string | undefined) => RunInstancesCommandInput,
  read: (reply: RunInstancesCommandOutput) => T,
): Promise<{ value: T; subnetId: string | undefined; clientToken: string; nextSubnetIndex: number }> {
  const tries = subnetTries(args.config.DriverParameters.SubnetID, state.subnetIndex, options.repeat);
  let stored: { err: unknown; capacity: boolean; subnetId: string | undefined } | undefined;
  let tryIndex = tries[0]?.index ?? 0;
  let follows: LaunchCall | undefined;
  for (const [n, { subnetId, index }] of tries.entries()) {
    tryIndex = index;
    const input = inputFor(subnetId, options.repeat?.clientToken);
    const call: LaunchCall = { subnetId, clientToken: input.ClientToken ?? "" };
    await options.beforeCall?.(call, follows);
    let reply: RunInstancesCommandOutput;
    try {
      reply = await ec2.send(new RunInstancesCommand(input));
    } catch (err) {
      options.onAttempt?.({ subnetId: subnetId ?? "", success: false });
      if (callOutcome(err) !== "failed") {
        stored = { err, capacity: false, subnetId };
        break;
      }
      const api = ec2ApiFault(err);
      const capacity = api !== undefined && hasCapacityScope(isErrorCapacity(api));
      // §4.3: keep the last capacity error, else the last error.
      if (!(stored?.capacity && !capacity)) stored = { err, capacity, subnetId };
      if (api !== undefined && isErrorSubnetSpecific(api) && n < tries.length - 1) {
        follows = call;
        continue;
      }
      break;
    }
    options.onAttempt?.({ subnetId: subnetId ?? "", success: true });
    return { value: read(reply), subnetId, clientToken: call.clientToken, nextSubnetIndex: tryIndex };
  }
  throw classifyEc2Error(stored?.err, {
    throttleDelayMs: state.throttleDelayMs,
    now: options.now?.() ?? new Date(),
    instanceType: args.instanceType,
    quotaGroups: args.config.DriverParameters.InstanceTypeQuotaGroups,
    subnetId: stored?.subnetId,
    // §4.3: stored even on failure, so later launches reveal other subnets' errors.
    nextSubnetIndex: tryIndex,
  });
}

/** The subnets to try, in order, each with the index to store if the launch ends there (§4.3). */
export function subnetTries(
  subnets: readonly string[],
  subnetIndex: number,
  repeat: LaunchCall | undefined,
): { subnetId: string | undefined; index: number }[] {
  const start = subnets.length === 0 ? 0 : mod(subnetIndex, subnets.length);
  if (repeat !== undefined) {
    const at = repeat.subnetId === undefined ? -1 : subnets.indexOf(repeat.subnetId);
    return [{ subnetId: repeat.subnetId, index: at >= 0 ? at : start }];
  }
  if (subnets.length === 0) return [{ subnetId: undefined, index: 0 }];
  return subnets.map((_, offset) => {
    const index = (start + offset) % subnets.length;
    return { subnetId: subnets[index], index };
  });
}

function mod(n: number, m: number): number {
  if (!Number.isFinite(n)) return 0;
  const r = Math.trunc(n) % m;
  return r < 0 ? r + m : r;
}
