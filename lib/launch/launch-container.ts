import type { InstanceType } from "../config/types.js";
import { Ec2CapacityError, Ec2QuotaError, Ec2ThrottleError } from "../cloud/errors.js";
import type { LaunchDecision } from "../scheduler/plan-queue.js";
import type { QueueEntry } from "../queue/types.js";
import { applyCapacityError, applyQuotaError, applyThrottle, isAtCapacity, isThrottled } from "../scheduler/capacity.js";
import { errorCode } from "../observability/error-code.js";
import type { DispatchState } from "../store/dispatch-state.js";
import type { LaunchDeps, LaunchReport } from "./launch-pass.js";

/** Why a launch stopped early: the rest of the pass must wait for the cloud. */
export type Stop = "quota" | "throttle" | "budget";

/** How long one invocation's claim on an entry lasts: longer than one lock-and-launch takes. */
const entryClaimMs = 60_000;

/**
 * Locks (if asked) and launches one container: claim the entry, lock it in Arvados, read back
 * its lock_count (the ClientToken's attempt), then RunInstances cheapest type first, falling
 * through to the next eligible type on a capacity error. Returns "launched", undefined to go on with the
 * next container, or a Stop when the rest of the pass must wait.
 */
export async function launchOne(
  deps: LaunchDeps,
  entry: QueueEntry,
  decision: LaunchDecision,
  lock: boolean,
  report: LaunchReport,
  liveInstances: () => number,
  now: () => number,
): Promise<"launched" | Stop | undefined> {
  const uuid = entry.container.uuid;
  if (!(await deps.store.claimEntry(uuid, deps.owner, now(), entryClaimMs))) return undefined;
  let launched = false;
  try {
    if (lock) {
      try {
        await deps.queue.lock(uuid);
        report.locked++;
      } catch (err) {
        // Someone else locked it, it was cancelled, or its priority fell to 0 (§5.4): skip it.
        recordFailure(report, uuid, "lock", err);
        return undefined;
      }
    }
    const lockCount = await currentLockCount(deps, uuid);
    if (lockCount === undefined) return undefined;

    for (const instanceType of [decision.instanceType, ...decision.fallbackTypes]) {
      const s = await deps.state.read();
      if (isThrottled(s.value, now())) return "throttle";
      if (isAtCapacity(s.value, instanceType, deps.config.Containers.CloudVMs.DriverParameters.InstanceTypeQuotaGroups, now())) {
        continue;
      }
      if (!(await deps.tokens.takeWithin(2_000))) return "throttle";
      const outcome = await tryLaunch(deps, entry, instanceType, lockCount, s.value, report, liveInstances, now);
      if (outcome === "launched") {
        launched = true;
        return "launched";
      }
      if (outcome !== "capacity") return outcome;
    }
    return undefined;
  } finally {
    if (!launched) await deps.store.releaseEntry(uuid, deps.owner).catch(() => undefined);
  }
}

/** lock_count of a container locked by us, or undefined if it is not (any more) ours to launch. */
async function currentLockCount(deps: LaunchDeps, uuid: string): Promise<number | undefined> {
  const [record, tokenUuid] = await Promise.all([
    deps.api.getContainer(uuid, ["uuid", "state", "lock_count", "locked_by_uuid"]),
    deps.queue.tokenUuid(),
  ]);
  if (record.state !== "Locked" || record.locked_by_uuid !== tokenUuid) return undefined;
  return typeof record.lock_count === "number" ? record.lock_count : undefined;
}

async function tryLaunch(
  deps: LaunchDeps,
  entry: QueueEntry,
  instanceType: InstanceType,
  lockCount: number,
  state: DispatchState,
  report: LaunchReport,
  liveInstances: () => number,
  now: () => number,
): Promise<"launched" | "capacity" | Stop | undefined> {
  const uuid = entry.container.uuid;
  try {
    const instance = await deps.cloud.launch({
      containerUuid: uuid,
      lockCount,
      instanceType,
      subnetIndex: state.subnetIndex,
      throttleDelayMs: state.throttleDelayMs,
    });
    await deps.state.modify((s) => ({ next: { ...s, subnetIndex: instance.nextSubnetIndex, throttleDelayMs: 0 }, result: undefined }));
    const launchedAt = new Date(now());
    await deps.store.recordLaunch(uuid, {
      instanceId: instance.instanceId,
      instanceType: instanceType.Name,
      ...(instance.subnetId === undefined ? {} : { subnetId: instance.subnetId }),
      attempt: lockCount,
      launchedAt: launchedAt.toISOString(),
    });
    report.launched.push({ uuid, instanceType: instanceType.Name, queuedMs: launchedAt.getTime() - Date.parse(entry.firstSeenAt) });
    return "launched";
  } catch (err) {
    const t = now();
    if (err instanceof Ec2CapacityError) {
      report.capacityErrors++;
      await deps.state.modify((s) => ({
        next: { ...s, ...applyCapacityError(s, err.capacityKey, t), subnetIndex: err.nextSubnetIndex ?? s.subnetIndex },
        result: undefined,
      }));
      return "capacity";
    }
    if (err instanceof Ec2QuotaError) {
      report.quotaErrors++;
      await deps.state.modify((s) => ({ next: { ...s, ...applyQuotaError(s, liveInstances() + 1, t) }, result: undefined }));
      return "quota";
    }
    if (err instanceof Ec2ThrottleError) {
      report.throttleErrors++;
      await deps.state.modify((s) => ({
        next: { ...s, ...applyThrottle(s, err.earliestRetry.getTime()), throttleDelayMs: err.retryAfterMs },
        result: undefined,
      }));
      return "throttle";
    }
    recordFailure(report, uuid, "launch", err);
    return undefined;
  }
}

/** Counts a failure and keeps the error's code (EC2 `code`, Arvados `status`) for the log. */
export function recordFailure(report: LaunchReport, uuid: string, step: "lock" | "launch" | "unlock", err: unknown): void {
  report.failures++;
  report.failureDetails.push({ uuid, step, error: errorCode(err) });
}
