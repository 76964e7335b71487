import type { ClusterConfig } from "../config/types.js";
import type { DispatchState, MaxContainersState } from "../model/dispatch-state.js";

/** §3.3 quietAfter503: how long without a 503 before the limit may grow again. */
export const QUIET_AFTER_503_MS = 60_000;

/** What one pass observed, for {@link nextMaxContainers}. Times are epoch ms. */
export interface MaxContainersInput {
  /** Time of the latest 503 from the Arvados API, if any (upstream `client.Last503()`). */
  last503?: number;
  /** Containers with an instance (upstream `len(pool.Running())`). */
  running: number;
  now: number;
  atQuota: boolean;
  /** Instances that exist, including creates in flight (upstream sum of CountWorkers). */
  totalInstances: number;
  instancesWithinQuota: number;
  config: ClusterConfig;
}

/** §3.2: start at InitialQuotaEstimate when set, else MaxInstances; 0 means unlimited. */
export function initialMaxContainers(config: ClusterConfig): number {
  const { InitialQuotaEstimate, MaxInstances } = config.Containers.CloudVMs;
  return InitialQuotaEstimate > 0 ? InitialQuotaEstimate : MaxInstances;
}

/**
 * The next dynamic concurrency limit (§3.3 "Dynamic concurrency limit"): halve to just below the
 * current workload on a new 503, creep up ~10% past the workload after a quiet minute, and
 * never run more than one past what the cloud quota is known to allow.
 */
export function nextMaxContainers(
  prev: Pick<MaxContainersState, "maxContainers" | "last503Seen">,
  input: MaxContainersInput,
): MaxContainersState {
  let { maxContainers, last503Seen } = prev;
  let { instancesWithinQuota } = input;
  const { running, totalInstances, now } = input;

  if (input.last503 !== undefined && (last503Seen === undefined || input.last503 > last503Seen)) {
    // §3.3: a new 503 → stay just below the level where the API started refusing.
    last503Seen = input.last503;
    maxContainers = Math.max(1, running - 1);
  } else if (maxContainers > 0 && (last503Seen === undefined || now - last503Seen > QUIET_AFTER_503_MS)) {
    // §3.3: quiet for a minute → allow ~10% beyond the current workload (integer division).
    maxContainers = Math.max(maxContainers, Math.floor((running * 11) / 10) + 1);
  }

  if (instancesWithinQuota > 0 && instancesWithinQuota < totalInstances) {
    // Evidently this many instances fit: raise the estimate.
    instancesWithinQuota = totalInstances;
  }
  if (input.atQuota) {
    // §3.3: treat the current workload as the maximum while at quota.
    if (maxContainers === 0 || maxContainers > totalInstances) {
      maxContainers = totalInstances === 0 ? 1 : totalInstances;
    }
    instancesWithinQuota = totalInstances;
  } else if (instancesWithinQuota > 0 && maxContainers > instancesWithinQuota + 1) {
    // §3.3: once a quota error was seen, exceed the known-good level by at most one, so a
    // brief quota lift does not start a lock/unlock cycle that exhausts MaxDispatchAttempts.
    maxContainers = instancesWithinQuota + 1;
  }

  return last503Seen === undefined
    ? { maxContainers, instancesWithinQuota }
    : { maxContainers, last503Seen, instancesWithinQuota };
}

/**
 * §3.3 maxSupervisors: the share of maxContainers workflow runners may use; at least 1 when a
 * fraction is set and the limit is finite; 0 means no supervisor limit.
 */
export function maxSupervisorsFor(maxContainers: number, supervisorFraction: number): number {
  const max = Math.floor(maxContainers * supervisorFraction);
  if (max < 1 && supervisorFraction > 0 && maxContainers > 0) return 1;
  return max;
}

/**
 * The state as the current config sees it. Upstream derives maxContainers from MaxInstances or
 * InitialQuotaEstimate when the dispatcher starts (§3.2), and a config change restarts it; a
 * shared state outlives deployments, so a change of either key starts the limit over.
 */
export function withConfigLimits(state: DispatchState, config: ClusterConfig): DispatchState {
  const { MaxInstances, InitialQuotaEstimate } = config.Containers.CloudVMs;
  const limits = `MaxInstances=${MaxInstances},InitialQuotaEstimate=${InitialQuotaEstimate}`;
  if (state.configLimits === limits) return state;
  // last503Seen stays: a 503 already acted on must not count as new after a redeploy.
  return { ...state, maxContainers: initialMaxContainers(config), instancesWithinQuota: 0, configLimits: limits };
}
