import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { CapacityState } from "../scheduler/capacity.js";
import { emptyCapacityState } from "../scheduler/capacity.js";
import type { ClusterConfig } from "../config/types.js";
import { initialMaxContainers, type MaxContainersState } from "../scheduler/max-containers.js";
import { metaKey } from "./item-codec.js";
import { SharedState } from "./shared-state.js";

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

export function initialDispatchState(maxContainers: number): DispatchState {
  return { ...emptyCapacityState(), throttleDelayMs: 0, subnetIndex: 0, maxContainers, instancesWithinQuota: 0 };
}

/** The shared `#capacity` item. */
export function dispatchState(ddb: DynamoDBClient, tableName: string, maxContainers: number): SharedState<DispatchState> {
  return new SharedState(ddb, tableName, metaKey.capacity, () => initialDispatchState(maxContainers));
}

/**
 * Shares the time of a 503 from the Arvados API (§3.3: the dynamic limit stays low for a quiet
 * minute after one, whichever function saw it). Writes only when `at` is newer than what is held.
 */
export async function recordApi503(state: SharedState<DispatchState>, at: Date | undefined): Promise<void> {
  if (at === undefined) return;
  const { value } = await state.read();
  if (value.lastApi503 !== undefined && value.lastApi503 >= at.getTime()) return;
  await state.modify((s) => ({
    next: s.lastApi503 !== undefined && s.lastApi503 >= at.getTime() ? s : { ...s, lastApi503: at.getTime() },
    result: undefined,
  }));
}
