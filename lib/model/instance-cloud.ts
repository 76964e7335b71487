import type { Batch } from "./worker-batch.js";
import type { InstanceType } from "./instance-type.js";
import type { InstanceView } from "./instance.js";

/** One launch for one container lock: the §4.3 subnet loop, or one earlier call repeated. */
export interface LaunchRequest {
  containerUuid: string;
  /** The container's lock_count: with the uuid it makes the idempotency token. */
  lockCount: number;
  instanceType: InstanceType;
  /** Where the subnet rotation stands (§4.3 currentSubnetIDIndex). */
  subnetIndex: number;
  /** The previous throttle delay, for the next one's backoff (§4.3 wrapError). */
  throttleDelayMs: number;
  /** Repeat this earlier call exactly (its subnet and ClientToken) instead of the subnet loop. */
  repeat?: LaunchCall;
  /**
   * Awaited before each RunInstances call is sent, with the earlier call of this launch it
   * follows; a rejection sends nothing more (lib/cloud's LaunchOptions.beforeCall).
   */
  beforeCall?: (call: LaunchCall, follows: LaunchCall | undefined) => Promise<void>;
  /** Told after each RunInstances call: its subnet ("" with none) and whether it started an instance (§4.3). */
  onAttempt?: (attempt: { subnetId: string; success: boolean }) => void;
}

export interface LaunchedInstance {
  instanceId: string;
  subnetId?: string;
  nextSubnetIndex: number;
}

/**
 * The cloud as the launcher and cleanup see it: start one instance, list ours, terminate some.
 * Failures reject with lib/cloud's classified errors (Ec2CapacityError, Ec2QuotaError,
 * Ec2ThrottleError, Ec2Error, each with the call's `outcome`), or with what `beforeCall` threw.
 * Every input of a RunInstances call is derived from the request and the deployment's settings,
 * so a request repeated with the same fields sends the same parameters.
 */
export interface InstanceCloud {
  launch(request: LaunchRequest): Promise<LaunchedInstance>;
  list(): Promise<InstanceView[]>;
  terminate(instanceIds: readonly string[]): Promise<void>;
}

/** One RunInstances call of a launch: its subnet (undefined when none is configured) and ClientToken. */
export interface LaunchCall {
  subnetId: string | undefined;
  clientToken: string;
}

/**
 * One batched worker launch (pool mode): one RunInstances with MinCount 1 and MaxCount =
 * `batch.length`; the containers at `batch[i]` go to the instance whose AmiLaunchIndex is i
 * (through the call's user data), several when they were packed onto one new instance (§3.3
 * 8.5: later containers pack onto an instance being created).
 */
export interface WorkerLaunchRequest {
  batch: Batch;
  instanceType: InstanceType;
  subnetIndex: number;
  throttleDelayMs: number;
  /** Repeat this earlier call exactly (its subnet and ClientToken) instead of the subnet loop. */
  repeat?: LaunchCall;
  /** Awaited before each RunInstances call is sent (the launcher writes the batch's intents here). */
  beforeCall?: (call: LaunchCall, follows: LaunchCall | undefined) => Promise<void>;
  onAttempt?: (attempt: { subnetId: string; success: boolean }) => void;
}

/** What a batched launch started: possibly fewer instances than asked (EC2 starts between MinCount and MaxCount). */
export interface LaunchedWorkers {
  /** The started instances with their AmiLaunchIndex: the containers of `batch[launchIndex]` are on `instanceId`. */
  instances: { instanceId: string; launchIndex: number }[];
  subnetId?: string;
  clientToken: string;
  nextSubnetIndex: number;
}

/** The cloud of a pool-mode launcher: batched worker launches and order tags (the channel). */
export interface WorkerCloud {
  launchWorkers(request: WorkerLaunchRequest): Promise<LaunchedWorkers>;
  /** Orders containers on an existing worker (`<prefix>Container:<uuid>` = `run:<attempt>`, one CreateTags). */
  assign(instanceId: string, orders: readonly { containerUuid: string; attempt: number }[]): Promise<void>;
  /** Stops containers on a worker (`<prefix>Container:<uuid>` = `kill:<attempt>`, one CreateTags); its others run on. */
  kill(instanceId: string, orders: readonly { containerUuid: string; attempt: number }[]): Promise<void>;
}
