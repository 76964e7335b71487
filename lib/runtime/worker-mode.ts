/**
 * The worker mode switch (issue #18), a deployment setting: `WORKER_MODE=per-container` (the
 * default) launches one instance per container, which powers off when it ends; `pool` keeps
 * workers that outlive containers (the agent, the channel, batched creates). Instances launched
 * in either mode are managed to their end in the other: the scheduler tells them apart by their
 * tags (ContainerUUID for one container, Worker=pool for a worker).
 */
import { checkWorkerLaunchConfig, workerAssignmentRoom } from "../cloud/worker-launch-user-data.js";
import { poolTimeouts } from "../config/pool-timeouts.js";
import type { ClusterConfig } from "../config/types.js";
import type { PoolDeps } from "../launch/ports.js";
import type { WorkerCloud } from "../model/instance-cloud.js";
import type { WorkerIdleTable } from "../model/worker.js";
import { bootDeploymentFromEnv } from "./environment.js";

/** The two modes. */
export const workerModes = ["per-container", "pool"] as const;
export type WorkerMode = (typeof workerModes)[number];

/** The mode an unset WORKER_MODE means. */
export const defaultWorkerMode: WorkerMode = "per-container";

/** A WORKER_MODE value that names no mode. */
export class WorkerModeError extends Error {
  constructor(readonly value: string) {
    super(`WORKER_MODE must be one of ${workerModes.join(", ")}`);
    this.name = "WorkerModeError";
  }
}

/** The deployment's worker mode, from WORKER_MODE (unset or empty: the default). Throws WorkerModeError. */
export function workerModeFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerMode {
  const value = env.WORKER_MODE ?? "";
  if (value === "") return defaultWorkerMode;
  if ((workerModes as readonly string[]).includes(value)) return value as WorkerMode;
  throw new WorkerModeError(value);
}

/**
 * An idle worker this close to TimeoutIdle is given nothing new: its agent polls its orders
 * every few seconds and may power off before it reads one (lib/cloud/worker-channel.ts). A few
 * polls, and never more than a quarter of TimeoutIdle: a short TimeoutIdle must still leave idle
 * workers a window in which they take work (an order that arrives too late is repaired by
 * cleanup, as for any worker that dies).
 */
export function assignMarginFor(timeoutIdleMs: number): number {
  return Math.min(20_000, Math.floor(timeoutIdleMs / 4));
}

/**
 * Pool-mode launch deps, or undefined in per-container mode. In pool mode the config must allow
 * worker launches (tag keys IMDS can serve, user data room: checkWorkerLaunchConfig), checked
 * here, at cold start, rather than at the first launch.
 */
export function poolDepsFromEnv(
  config: ClusterConfig,
  cloud: WorkerCloud,
  idle: Pick<WorkerIdleTable, "idleSince">,
  env: NodeJS.ProcessEnv = process.env,
): PoolDeps | undefined {
  if (workerModeFromEnv(env) !== "pool") return undefined;
  checkWorkerLaunchConfig(config, bootDeploymentFromEnv(env), env.DISPATCH_CONFIG);
  const cloudVMs = config.Containers.CloudVMs;
  return {
    cloud,
    idle,
    settings: {
      maxRunningContainersPerInstance: cloudVMs.MaxRunningContainersPerInstance ?? 0,
      // The agent powers off after the same TimeoutIdle (worker-launch-user-data.ts configTimings).
      timeoutIdleMs: poolTimeouts(config).timeoutIdleMs,
      assignMarginMs: assignMarginFor(poolTimeouts(config).timeoutIdleMs),
      maxBatchSize: maxBatchFor(workerAssignmentRoom(config, bootDeploymentFromEnv(env))),
    },
  };
}

/**
 * Bytes of one instance's user data line at most: `#arvados-run <index> <uuid>:<attempt>\n` with
 * a 3-digit index and a 2-digit attempt (`lock_count` stops at MaxDispatchAttempts, 10 by default).
 */
const assignmentLineBytes = "#arvados-run 999 zzzzz-dz642-zzzzzzzzzzzzzzz:99\n".length;

/** How many containers one batched call's user data can carry (at least 1), given the room left. */
export function maxBatchFor(room: number | undefined): number {
  if (room === undefined) return 1;
  return Math.max(1, Math.min(1000, Math.floor(room / assignmentLineBytes)));
}
