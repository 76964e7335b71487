import type { InstanceType } from "../model/instance-type.js";
import { Ec2CapacityError, Ec2Error, Ec2QuotaError, Ec2ThrottleError } from "../model/cloud-errors.js";
import type { LaunchDecision } from "../scheduler/plan-queue.js";
import type { LaunchIntent, QueueEntry } from "../model/entry.js";
import { applyCapacityError, applyQuotaError, applyThrottle, isAtCapacity, isThrottled } from "../scheduler/capacity.js";
import { errorCode } from "../observability/error-code.js";
import type { DispatchState } from "../model/dispatch-state.js";
import { StaleEntryError } from "../model/stale-entry.js";
import type { LaunchDeps, LaunchReport, RepeatOutcome } from "./launch-pass.js";
import type { LaunchCall, LaunchedInstance } from "../model/instance-cloud.js";

/** Why a launch stopped early: the rest of the pass must wait for the cloud. */
export type Stop = "quota" | "throttle" | "budget";

/** What one launch try led to: the next type may be tried only after "capacity". */
type TryOutcome = "launched" | "capacity" | Stop | undefined;

/** How long one invocation's claim on an entry lasts: longer than one lock-and-launch takes. */
const entryClaimMs = 60_000;

/**
 * Locks (if asked) and launches one container: claim the entry, lock it in Arvados, read back
 * its lock_count (the ClientToken's attempt), then RunInstances cheapest type first, falling
 * through to the next eligible type on a capacity error. Each call's launch intent is written
 * before it is sent. If the entry holds an open intent of this lock (a call whose outcome is
 * unknown), that call is repeated first, exactly, and the types are tried only once EC2 has
 * answered it with a capacity error. Returns "launched", undefined to go on with the next
 * container, or a Stop when the rest of the pass must wait.
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

    const intent = openIntent(entry, lockCount);
    if (intent !== undefined) {
      const outcome = await repeatIntent(deps, entry, intent, report, liveInstances, now);
      if (outcome === "launched") {
        launched = true;
        return "launched";
      }
      // Only a capacity error lets the lock go on to other types: it proves the repeated call
      // started nothing, and it marks the intent's type at capacity, so the loop below skips it.
      if (outcome !== "capacity") return outcome;
    }

    for (const instanceType of [decision.instanceType, ...decision.fallbackTypes]) {
      const s = await deps.state.read();
      if (isThrottled(s.value, now())) return "throttle";
      if (isAtCapacity(s.value, instanceType, deps.config.Containers.CloudVMs.DriverParameters.InstanceTypeQuotaGroups, now())) {
        continue;
      }
      if (!(await deps.tokens.takeWithin(2_000))) return "throttle";
      const outcome = await tryLaunch(deps, entry, instanceType, lockCount, undefined, s.value, report, liveInstances, now);
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

/**
 * The entry's intent for this very lock (lock_count as Arvados reports it now) with no instance
 * recorded for it. An intent of an older lock is stale: ignored here, overwritten by the next.
 */
function openIntent(entry: QueueEntry, lockCount: number): LaunchIntent | undefined {
  const intent = entry.launchIntent;
  if (intent === undefined || intent.attempt !== lockCount) return undefined;
  if (entry.launch !== undefined && entry.launch.attempt >= lockCount) return undefined;
  return intent;
}

/**
 * Repeats an open intent's call exactly: the same type, subnet and ClientToken, and the same
 * user data and instance secret (they derive from the container, the lock_count, the type and
 * the deployment's settings). No re-planning to another type or subnet while the outcome is
 * unknown, and no capacity check: the repeat can start at most the instance the call may
 * already have started, and EC2 answers it with that instance whatever its capacity now.
 *
 * The type comes from the entry's own copy (written once by choose-instance-types, the copy the
 * first call was built from), not from the config: a type removed from the config since is still
 * repeated byte for byte, so its outcome can become known; the report notes it for the log, and
 * the normal path (the entry's types) follows only once EC2 has answered with a capacity error.
 */
async function repeatIntent(
  deps: LaunchDeps,
  entry: QueueEntry,
  intent: LaunchIntent,
  report: LaunchReport,
  liveInstances: () => number,
  now: () => number,
): Promise<TryOutcome> {
  const uuid = entry.container.uuid;
  const instanceType = entry.instanceTypes?.find((it) => it.Name === intent.instanceType);
  if (instanceType === undefined) {
    // Cannot happen: the intent was written from these types, which are written once. The
    // intent stays; cleanup gives the lock back after TimeoutBooting.
    report.failures++;
    report.failureDetails.push({ uuid, step: "launch", error: "BUG: launch intent type is not among the entry's types" });
    return undefined;
  }
  const s = await deps.state.read();
  if (isThrottled(s.value, now())) return "throttle";
  if (!(await deps.tokens.takeWithin(2_000))) return "throttle";
  return tryLaunch(deps, entry, instanceType, intent.attempt, intent, s.value, report, liveInstances, now);
}

/**
 * One launch of one type: the §4.3 subnet loop, writing each call's intent before it is sent,
 * or (`repeat`) that intent's call once more. Records the instance on success; on a failure
 * that EC2 says started nothing, removes the intent and applies capacity, quota and throttle
 * state; on an unknown outcome keeps the intent for the next pass to repeat.
 */
async function tryLaunch(
  deps: LaunchDeps,
  entry: QueueEntry,
  instanceType: InstanceType,
  lockCount: number,
  repeat: LaunchIntent | undefined,
  state: DispatchState,
  report: LaunchReport,
  liveInstances: () => number,
  now: () => number,
): Promise<TryOutcome> {
  const uuid = entry.container.uuid;
  // The ClientToken of the intent the table holds for the call in flight.
  let inFlight = repeat?.clientToken;
  const beforeCall = async (call: LaunchCall, follows: LaunchCall | undefined): Promise<void> => {
    const intent: LaunchIntent = {
      attempt: lockCount,
      instanceType: instanceType.Name,
      ...(call.subnetId === undefined ? {} : { subnetId: call.subnetId }),
      clientToken: call.clientToken,
      writtenAt: new Date(now()).toISOString(),
    };
    // Throws StaleEntryError when the entry is no longer ours to launch: nothing is sent then.
    await deps.store.writeLaunchIntent(uuid, deps.owner, intent, follows?.clientToken);
    inFlight = call.clientToken;
  };
  const noteRepeat = (outcome: RepeatOutcome) => {
    if (repeat === undefined) return;
    const typeConfigured = deps.config.InstanceTypes[instanceType.Name] !== undefined;
    report.repeats.push({ uuid, instanceType: instanceType.Name, outcome, typeConfigured });
  };

  let instance: LaunchedInstance;
  try {
    instance = await deps.cloud.launch({
      containerUuid: uuid,
      lockCount,
      instanceType,
      subnetIndex: state.subnetIndex,
      throttleDelayMs: state.throttleDelayMs,
      ...(repeat === undefined ? { beforeCall } : { repeat: { subnetId: repeat.subnetId, clientToken: repeat.clientToken } }),
      onAttempt: (attempt) => report.instanceStarts.push(attempt),
    });
  } catch (err) {
    // The intent was refused: another invocation holds the entry, or another call of this lock
    // may have started an instance. Nothing was sent; the next pass sees which.
    if (err instanceof StaleEntryError) return undefined;
    if (!(err instanceof Ec2Error) || err.outcome === "unknown") {
      // An instance may exist: the intent stays, and the next pass repeats exactly this call.
      noteRepeat("unknown");
      recordFailure(report, uuid, "launch", err);
      return undefined;
    }
    noteRepeat(err.outcome);
    if (err.outcome === "terminated") {
      // This lock's call started an instance that is gone already: give the lock back, as
      // cleanup does when a launched instance is gone (§3.4); the next lock has a new token.
      recordFailure(report, uuid, "launch", err);
      try {
        await deps.queue.unlock(uuid);
        report.unlocked++;
      } catch (unlockErr) {
        recordFailure(report, uuid, "unlock", unlockErr);
      }
      return undefined;
    }
    // EC2 answered that the call in flight started nothing: its intent goes. If the removal
    // fails, the next pass repeats a call that failed, which is harmless.
    if (inFlight !== undefined) await deps.store.clearLaunchIntent(uuid, deps.owner, inFlight).catch(() => false);
    return applyLaunchError(deps, uuid, err, report, liveInstances, now);
  }
  noteRepeat("launched");
  try {
    await deps.state.modify((s) => ({ next: { ...s, subnetIndex: instance.nextSubnetIndex, throttleDelayMs: 0 }, result: undefined }));
    const launchedAt = new Date(now());
    // One write: the record replaces the intent.
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
    // The instance exists but is not recorded: the intent stays, and the next pass's repeat
    // gets this instance back from EC2 and records it.
    recordFailure(report, uuid, "launch", err);
    return undefined;
  }
}

/**
 * Capacity, quota and throttle errors update the shared state (§4.1, §4.3); others are failures.
 * Every error stores the subnet index the call ended on (§4.3: "even on failure, so later calls
 * reveal other subnets' errors") and the throttle delay wrapError left: the new delay after a
 * throttle, unchanged after quota or capacity, 0 after anything else.
 */
async function applyLaunchError(
  deps: LaunchDeps,
  uuid: string,
  err: Ec2Error,
  report: LaunchReport,
  liveInstances: () => number,
  now: () => number,
): Promise<TryOutcome> {
  const t = now();
  const ended = (s: DispatchState): DispatchState => ({ ...s, subnetIndex: err.nextSubnetIndex ?? s.subnetIndex });
  if (err instanceof Ec2CapacityError) {
    report.capacityErrors++;
    await deps.state.modify((s) => ({ next: ended({ ...s, ...applyCapacityError(s, err.capacityKey, t) }), result: undefined }));
    return "capacity";
  }
  if (err instanceof Ec2QuotaError) {
    report.quotaErrors++;
    await deps.state.modify((s) => ({ next: ended({ ...s, ...applyQuotaError(s, liveInstances() + 1, t) }), result: undefined }));
    return "quota";
  }
  if (err instanceof Ec2ThrottleError) {
    report.throttleErrors++;
    await deps.state.modify((s) => ({
      next: ended({ ...s, ...applyThrottle(s, err.earliestRetry.getTime()), throttleDelayMs: err.retryAfterMs }),
      result: undefined,
    }));
    return "throttle";
  }
  await deps.state.modify((s) => ({ next: ended({ ...s, throttleDelayMs: 0 }), result: undefined }));
  recordFailure(report, uuid, "launch", err);
  return undefined;
}

/** Counts a failure and keeps the error's code (EC2 `code`, Arvados `status`) for the log. */
export function recordFailure(report: LaunchReport, uuid: string, step: "lock" | "launch" | "unlock", err: unknown): void {
  report.failures++;
  report.failureDetails.push({ uuid, step, error: errorCode(err) });
}
