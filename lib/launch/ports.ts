import type { InstanceType } from "../config/types.js";
import type { InstanceView } from "../scheduler/instances.js";

/** One RunInstances for one container lock. */
export interface LaunchRequest {
  containerUuid: string;
  /** The container's lock_count: with the uuid it makes the idempotency token. */
  lockCount: number;
  instanceType: InstanceType;
  /** Where the subnet rotation stands (§4.3 currentSubnetIDIndex). */
  subnetIndex: number;
  /** The previous throttle delay, for the next one's backoff (§4.3 wrapError). */
  throttleDelayMs: number;
}

export interface LaunchedInstance {
  instanceId: string;
  subnetId?: string;
  nextSubnetIndex: number;
}

/**
 * The cloud as the launcher and cleanup see it: start one instance, list ours, terminate some.
 * Failures reject with lib/cloud's classified errors (Ec2CapacityError, Ec2QuotaError,
 * Ec2ThrottleError, Ec2Error).
 */
export interface InstanceCloud {
  launch(request: LaunchRequest): Promise<LaunchedInstance>;
  list(): Promise<InstanceView[]>;
  terminate(instanceIds: readonly string[]): Promise<void>;
}
