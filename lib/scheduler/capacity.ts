import type { InstanceType } from "../model/instance-type.js";
import { capacityKeysFor } from "../model/capacity-key.js";
import type { CapacityState } from "../model/dispatch-state.js";

/** §4.1 quotaErrorTTL: how long a quota error with no instances running blocks creates. */
export const QUOTA_ERROR_TTL_MS = 60_000;
/** §4.1 capacityErrorTTL: how long a capacity error blocks its key. */
export const CAPACITY_ERROR_TTL_MS = 60_000;

/**
 * A state brought up to `now` and the live instance count: expired windows dropped, a quota stop
 * lifted once fewer instances run (§4.1). Launch and cleanup both derive it before they store it.
 */
export function refreshCapacity<S extends CapacityState>(state: S, liveInstances: number, now: number): S {
  const derived = clearQuotaIfFewer(expire(state, now), liveInstances);
  const next: S = { ...state, ...derived, atCapacityUntil: derived.atCapacityUntil };
  for (const key of ["atQuotaUntil", "atQuotaUntilFewerInstances", "throttledUntil"] as const) {
    if (derived[key] === undefined) delete next[key];
  }
  return next;
}

/** True when any capacity key of `it` is blocked at `now` (§4.1 AtCapacity). */
export function isAtCapacity(
  state: CapacityState,
  it: Pick<InstanceType, "ProviderType" | "Preemptible">,
  quotaGroups: Readonly<Record<string, string>>,
  now: number,
): boolean {
  return capacityKeysFor(it, quotaGroups).some((key) => {
    const until = state.atCapacityUntil[key];
    return until !== undefined && now < until;
  });
}

/**
 * True when no instance may be created for quota reasons (§4.1 AtQuota): a quota error is
 * waiting for the count to drop, or a recent quota error with no instances is still fresh, or
 * MaxInstances (> 0) is reached. `instanceCount` includes creates in flight.
 */
export function isAtQuota(state: CapacityState, instanceCount: number, maxInstances: number, now: number): boolean {
  if ((state.atQuotaUntilFewerInstances ?? 0) > 0) return true;
  if (state.atQuotaUntil !== undefined && now < state.atQuotaUntil) return true;
  return maxInstances > 0 && maxInstances <= instanceCount;
}

/** True while creates are suspended by a rate-limit error (§4.1 throttleCreate). */
export function isThrottled(state: CapacityState, now: number): boolean {
  return state.throttledUntil !== undefined && now < state.throttledUntil;
}

/**
 * The state after a create failed with a quota error (§4.1). `instanceCount` counts instances
 * including the failed create, so n = instanceCount - 1 is what the account evidently holds.
 * With none running, wait a fixed TTL; otherwise stay at quota until the count drops below n.
 */
export function applyQuotaError(state: CapacityState, instanceCount: number, now: number): CapacityState {
  const n = instanceCount - 1;
  if (n < 1) return { ...state, atQuotaUntil: now + QUOTA_ERROR_TTL_MS };
  const existing = state.atQuotaUntilFewerInstances ?? 0;
  return { ...state, atQuotaUntilFewerInstances: existing > 0 && existing < n ? existing : n };
}

/** The state after a create failed with a capacity error for `key` (§4.1): that key is blocked for a TTL. */
export function applyCapacityError(state: CapacityState, key: string, now: number): CapacityState {
  return { ...state, atCapacityUntil: { ...state.atCapacityUntil, [key]: now + CAPACITY_ERROR_TTL_MS } };
}

/** The state after a rate-limit error: creates wait until `until` (§4.1 CheckRateLimitError). */
export function applyThrottle(state: CapacityState, until: number): CapacityState {
  return { ...state, throttledUntil: Math.max(until, state.throttledUntil ?? 0) };
}

/** §4.1: pool sync clears "at quota until fewer instances" once the count is below it. */
export function clearQuotaIfFewer(state: CapacityState, instanceCount: number): CapacityState {
  const fewer = state.atQuotaUntilFewerInstances ?? 0;
  if (fewer <= 0 || instanceCount >= fewer) return state;
  const { atQuotaUntilFewerInstances: _cleared, ...rest } = state;
  return rest;
}

/** The state without entries whose time has passed, so stored state does not grow. */
export function expire(state: CapacityState, now: number): CapacityState {
  const atCapacityUntil: Record<string, number> = {};
  for (const [key, until] of Object.entries(state.atCapacityUntil)) {
    if (now < until) atCapacityUntil[key] = until;
  }
  const next: CapacityState = { atCapacityUntil };
  if (state.atQuotaUntil !== undefined && now < state.atQuotaUntil) next.atQuotaUntil = state.atQuotaUntil;
  if ((state.atQuotaUntilFewerInstances ?? 0) > 0) next.atQuotaUntilFewerInstances = state.atQuotaUntilFewerInstances;
  if (state.throttledUntil !== undefined && now < state.throttledUntil) next.throttledUntil = state.throttledUntil;
  return next;
}
