import { type EC2Client, RunInstancesCommand } from "@aws-sdk/client-ec2";
import { classifyEc2Error, ec2ApiFault, isErrorCapacity, isErrorSubnetSpecific } from "./classify.js";
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
}

/**
 * Start one instance (§4.3 Create with its subnet loop). Tries the configured subnets from
 * `state.subnetIndex` on, moving to the next one only after a subnet-specific error; with no
 * subnets, one call without a subnet. Blocks for the RunInstances calls (at most one per subnet).
 *
 * Rejects with the classified error of the failure (Ec2ThrottleError, Ec2QuotaError,
 * Ec2CapacityError, else Ec2Error), preferring the last capacity error seen over later other
 * errors; the error carries `nextSubnetIndex` and `throttleDelayMs`, the state to store.
 */
export async function launchInstance(
  ec2: EC2Client,
  args: Omit<RunInstancesArgs, "subnetId">,
  state: LaunchState,
  options: LaunchOptions = {},
): Promise<LaunchResult> {
  const subnets = args.config.DriverParameters.SubnetID;
  const tries = Math.max(subnets.length, 1);
  const start = subnets.length === 0 ? 0 : mod(state.subnetIndex, subnets.length);
  let stored: { err: unknown; capacity: boolean; subnetId: string | undefined } | undefined;
  let tryIndex = start;
  for (let offset = 0; offset < tries; offset++) {
    tryIndex = subnets.length === 0 ? 0 : (start + offset) % subnets.length;
    const subnetId = subnets[tryIndex];
    const input = buildRunInstancesInput({ ...args, subnetId });
    let instanceId: string | undefined;
    try {
      const reply = await ec2.send(new RunInstancesCommand(input));
      instanceId = reply.Instances?.[0]?.InstanceId;
    } catch (err) {
      options.onAttempt?.({ subnetId: subnetId ?? "", success: false });
      const api = ec2ApiFault(err);
      const capacity = api !== undefined && hasCapacityScope(isErrorCapacity(api));
      // §4.3: keep the last capacity error, else the last error.
      if (!(stored?.capacity && !capacity)) stored = { err, capacity, subnetId };
      if (api !== undefined && isErrorSubnetSpecific(api) && offset < tries - 1) continue;
      break;
    }
    options.onAttempt?.({ subnetId: subnetId ?? "", success: true });
    if (instanceId === undefined) throw new Error("BUG: RunInstances succeeded without an instance id");
    return { instanceId, subnetId, clientToken: input.ClientToken ?? "", nextSubnetIndex: tryIndex, throttleDelayMs: 0 };
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

function hasCapacityScope(c: { instanceType: boolean; quotaGroup: boolean }): boolean {
  return c.instanceType || c.quotaGroup;
}

function mod(n: number, m: number): number {
  if (!Number.isFinite(n)) return 0;
  const r = Math.trunc(n) % m;
  return r < 0 ? r + m : r;
}
