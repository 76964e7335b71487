/**
 * The dispatch state: what upstream's worker pool and scheduler keep in memory between passes
 * (§3.3, §4.1, §4.3), as plain data so one shared `#capacity` item holds it and a cold start
 * forgets nothing. Times are epoch ms.
 */

/**
 * CapacityState is the pool's memory of cloud refusals (upstream `worker.Pool` fields
 * `atCapacityUntil`, `atQuotaUntil`, `atQuotaUntilFewerInstances`, `throttleCreate`).
 */
export interface CapacityState {
  /** Capacity key (see {@link capacityKeysFor}) → at capacity until. */
  atCapacityUntil: Record<string, number>;
  atQuotaUntil?: number;
  /** At quota until the instance count drops below this; 0 or undefined = not set. */
  atQuotaUntilFewerInstances?: number;
  /** Creates are suspended until this time (rate limit, §4.1 throttleCreate). */
  throttledUntil?: number;
}

/** A CapacityState with nothing recorded. */
export function emptyCapacityState(): CapacityState {
  return { atCapacityUntil: {} };
}

/**
 * MaxContainersState is the dynamic concurrency limit carried between passes (upstream
 * Scheduler fields `maxContainers`, `last503time`, `instancesWithinQuota`). 0 = unlimited.
 */
export interface MaxContainersState {
  maxContainers: number;
  /** Epoch ms of the last API 503 already acted on. */
  last503Seen?: number;
  /**
   * Epoch ms of the latest 503 any function got from the Arvados API (upstream has one client
   * for the queue and the scheduler; here update-queue, choose-instance-types and cleanup
   * report theirs), so launch holds back after a 503 it did not see itself (§3.3).
   */
  lastApi503?: number;
  /** Instance count known to fit the cloud quota; 0 until a quota error has been seen. */
  instancesWithinQuota: number;
}

/**
 * What the upstream worker pool and scheduler keep in memory between passes, kept here in one
 * `#capacity` item so every invocation shares it and a cold start forgets nothing (§3.3, §4.1,
 * §4.3): capacity/quota/throttle state, the throttle backoff, the subnet rotation index and the
 * dynamic concurrency limit.
 */
export interface DispatchState extends CapacityState, MaxContainersState {
  /** §4.3 throttleDelayCreate: the last RunInstances throttle delay (0 = not throttled). */
  throttleDelayMs: number;
  /** §4.3 currentSubnetIDIndex. */
  subnetIndex: number;
  /** The config limits `maxContainers` was derived from (see withConfigLimits). */
  configLimits?: string;
}

export function initialDispatchState(maxContainers: number): DispatchState {
  return { ...emptyCapacityState(), throttleDelayMs: 0, subnetIndex: 0, maxContainers, instancesWithinQuota: 0 };
}
