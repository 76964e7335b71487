import type { ClusterConfig } from "./types.js";

/** Upstream's pool defaults (§4.1 "Pool defaults when the config value is 0"), in ms. */
export const poolTimeoutDefaults = {
  timeoutIdleMs: 60_000,
  timeoutTermMs: 2 * 60_000,
  timeoutBootingMs: 10 * 60_000,
} as const;

/** The worker timeouts a deployment runs with, in ms. */
export interface PoolTimeouts {
  /** `CloudVMs.TimeoutIdle`: an idle worker's agent powers it off after this. */
  timeoutIdleMs: number;
  /** `CloudVMs.TimeoutTERM`: how long the agent signals a container it was told to kill. */
  timeoutTermMs: number;
  /** `CloudVMs.TimeoutBooting`: how long a worker may take to start what it was given. */
  timeoutBootingMs: number;
}

/** A configured duration, or the default when absent or 0 (upstream's pool reads 0 as "unset"). */
function orDefault(value: number | undefined, def: number): number {
  return value !== undefined && value > 0 ? value : def;
}

/**
 * The worker timeouts of `config` (§6.2), with upstream's defaults for absent or 0 values: the one
 * place that rule lives, so the agent (worker user data), the launch pass (PoolSettings) and
 * cleanup (reconcile, the idle backstop) judge a worker by the same numbers.
 */
export function poolTimeouts(config: ClusterConfig): PoolTimeouts {
  const cloudVMs = config.Containers.CloudVMs;
  return {
    timeoutIdleMs: orDefault(cloudVMs.TimeoutIdle, poolTimeoutDefaults.timeoutIdleMs),
    timeoutTermMs: orDefault(cloudVMs.TimeoutTERM, poolTimeoutDefaults.timeoutTermMs),
    timeoutBootingMs: orDefault(cloudVMs.TimeoutBooting, poolTimeoutDefaults.timeoutBootingMs),
  };
}
