import { Ec2CapacityError, Ec2Error, Ec2QuotaError, Ec2ThrottleError } from "../model/cloud-errors.js";
import type { DispatchState } from "../model/dispatch-state.js";
import type { LaunchIntent, QueueEntry } from "../model/entry.js";
import type { LaunchCall, LaunchedInstance } from "../model/instance-cloud.js";
import type { InstanceType } from "../model/instance-type.js";
import { StaleEntryError } from "../model/stale-entry.js";
import { errorCode } from "../observability/error-code.js";
import {
  applyCapacityError,
  applyQuotaError,
  applyThrottle,
  isAtCapacity,
  isThrottled,
} from "../scheduler/capacity.js";
import type { LaunchDecision } from "../scheduler/plan-queue.js";
import type { LaunchDeps } from "./ports.js";

/**
 * How long a launch may wait for a RunInstances token (2 a second): not at all. A pass that finds
 * the bucket empty stops as if throttled and asks to be woken when a token is back (launch-pass
 * wakeAfterPass), so a backlog goes on in passes a second apart instead of a billed sleep.
 */
const tokenWaitMs = 0;

/** Why a launch stopped early: the rest of the pass must wait for the cloud. */
export type Stop = "quota" | "throttle" | "budget";

/** What one launch try led to: the next type may be tried only after "capacity". */
type TryOutcome = "launched" | "capacity" | Stop | undefined;

/** What a repeated launch intent's call turned out to have done (see Ec2CallOutcome). */
export type RepeatOutcome = "launched" | "failed" | "unknown" | "terminated";

/** A step of one container's launch, as the pass counts it: locks, launches, errors, repeats. */
export type LaunchEvent =
  | { kind: "locked"; uuid: string }
  | { kind: "unlocked"; uuid: string }
  | { kind: "launched"; uuid: string; instanceType: string; queuedMs: number }
  | { kind: "failed"; uuid: string; step: "lock" | "launch" | "unlock"; error: string }
  | { kind: "cloud-refused"; uuid: string; reason: "capacity" | "quota" | "throttle" }
  /** An open intent's call repeated; `typeConfigured` is false when its type has left the config. */
  | { kind: "repeated"; uuid: string; instanceType: string; outcome: RepeatOutcome; typeConfigured: boolean }
  /** §4.3 ec2_instance_starts_total: one RunInstances call, its subnet ("" with none) and success. */
  | { kind: "start"; subnetId: string; success: boolean };

/** One container to lock (if asked) and launch. */
export interface ContainerLaunch {
  entry: QueueEntry;
  decision: LaunchDecision;
  /** Lock first: the container is Queued. False when it is Locked (by us) already. */
  lock: boolean;
  /** Instances counting toward quota now (a quota error is recorded at one more). */
  liveInstances: () => number;
  /** Told each step as it happens; the pass folds them into its report. */
  record: (event: LaunchEvent) => void;
}

/** The failure event of `err` at `step`, with the error's code (EC2 `code`, Arvados `status`) for the log. */
export function failure(uuid: string, step: "lock" | "launch" | "unlock", err: unknown): LaunchEvent {
  return { kind: "failed", uuid, step, error: errorCode(err) };
}

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
export async function launchContainer(
  deps: LaunchDeps,
  launch: ContainerLaunch,
): Promise<"launched" | Stop | undefined> {
  const now = deps.now ?? Date.now;
  const { entry, decision, record } = launch;
  const uuid = entry.container.uuid;
  if (!(await deps.store.claimEntry(uuid, deps.owner, now(), entryClaimMs))) return undefined;
  let launched = false;
  try {
    if (launch.lock) {
      try {
        await deps.queue.lock(uuid);
        record({ kind: "locked", uuid });
      } catch (err) {
        // Someone else locked it, it was cancelled, or its priority fell to 0 (§5.4): skip it.
        record(failure(uuid, "lock", err));
        return undefined;
      }
    }
    const held = await deps.queue.heldLock(uuid);
    if (held?.state !== "Locked" || held.lockCount === undefined) return undefined;
    const attempt: Attempt = { deps, launch, lockCount: held.lockCount, now };

    const intent = openIntent(entry, held.lockCount);
    if (intent !== undefined) {
      const outcome = await repeatIntent(attempt, intent);
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
      if (
        isAtCapacity(
          s.value,
          instanceType,
          deps.config.Containers.CloudVMs.DriverParameters.InstanceTypeQuotaGroups,
          now(),
        )
      ) {
        continue;
      }
      if (!(await deps.tokens.takeWithin(tokenWaitMs))) return "throttle";
      const outcome = await tryLaunch(attempt, instanceType, s.value);
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

/** One lock's launch in progress: what every try of it shares. */
interface Attempt {
  deps: LaunchDeps;
  launch: ContainerLaunch;
  /** The container's lock_count, as Arvados reported it after the lock. */
  lockCount: number;
  now: () => number;
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
 * Repeats an open intent's call exactly: the same type definition, subnet and ClientToken, and
 * the same user data and instance secret (they derive from the container, the lock_count, the
 * type and the deployment's settings). No re-planning to another type or subnet while the
 * outcome is unknown, and no capacity check: the repeat can start at most the instance the call
 * may already have started, and EC2 answers it with that instance whatever its capacity now.
 *
 * The definition is the intent's own (the one the call was built from), so a type changed or
 * removed in the config since is still repeated byte for byte and its outcome can become known;
 * the event notes a type no longer configured, and the normal path (the entry's types as now
 * configured) follows only once EC2 has answered with a capacity error.
 */
async function repeatIntent(attempt: Attempt, intent: LaunchIntent): Promise<TryOutcome> {
  const { deps, launch, now } = attempt;
  const uuid = launch.entry.container.uuid;
  const instanceType = intent.definition ?? deps.config.InstanceTypes[intent.instanceType];
  if (instanceType === undefined) {
    // An intent written before definitions were kept, whose type has left the config: the call
    // cannot be rebuilt. The intent stays; cleanup gives the lock back after TimeoutBooting.
    launch.record({ kind: "failed", uuid, step: "launch", error: "LaunchIntentTypeUnknown" });
    return undefined;
  }
  const s = await deps.state.read();
  if (isThrottled(s.value, now())) return "throttle";
  if (!(await deps.tokens.takeWithin(tokenWaitMs))) return "throttle";
  return tryLaunch(attempt, instanceType, s.value, intent);
}

/**
 * One launch of one type: the §4.3 subnet loop, writing each call's intent before it is sent,
 * or (`repeat`) that intent's call once more. Records the instance on success; on a failure
 * that EC2 says started nothing, removes the intent and applies capacity, quota and throttle
 * state; on an unknown outcome keeps the intent for the next pass to repeat.
 */
async function tryLaunch(
  attempt: Attempt,
  instanceType: InstanceType,
  state: DispatchState,
  repeat?: LaunchIntent,
): Promise<TryOutcome> {
  const { deps, launch, lockCount, now } = attempt;
  const { entry, record } = launch;
  const uuid = entry.container.uuid;
  // The ClientToken of the intent the table holds for the call in flight.
  let inFlight = repeat?.clientToken;
  const beforeCall = async (call: LaunchCall, follows: LaunchCall | undefined): Promise<void> => {
    const intent: LaunchIntent = {
      attempt: lockCount,
      instanceType: instanceType.Name,
      definition: instanceType,
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
    record({ kind: "repeated", uuid, instanceType: instanceType.Name, outcome, typeConfigured });
  };

  let instance: LaunchedInstance;
  try {
    instance = await deps.cloud.launch({
      containerUuid: uuid,
      lockCount,
      instanceType,
      subnetIndex: state.subnetIndex,
      throttleDelayMs: state.throttleDelayMs,
      ...(repeat === undefined
        ? { beforeCall }
        : { repeat: { subnetId: repeat.subnetId, clientToken: repeat.clientToken } }),
      onAttempt: (start) => record({ kind: "start", ...start }),
    });
  } catch (err) {
    // The intent was refused: another invocation holds the entry, or another call of this lock
    // may have started an instance. Nothing was sent; the next pass sees which.
    if (err instanceof StaleEntryError) return undefined;
    if (!(err instanceof Ec2Error) || err.outcome === "unknown") {
      // An instance may exist: the intent stays, and the next pass repeats exactly this call.
      noteRepeat("unknown");
      record(failure(uuid, "launch", err));
      return undefined;
    }
    noteRepeat(err.outcome);
    if (err.outcome === "terminated") {
      // This lock's call started an instance that is gone already: give the lock back, as
      // cleanup does when a launched instance is gone (§3.4); the next lock has a new token.
      record(failure(uuid, "launch", err));
      await unlockRecorded(deps, uuid, record);
      return undefined;
    }
    // EC2 answered that the call in flight started nothing: its intent goes. If the removal
    // fails, the next pass repeats a call that failed, which is harmless.
    if (inFlight !== undefined) await deps.store.clearLaunchIntent(uuid, deps.owner, inFlight).catch(() => false);
    return applyLaunchError(attempt, err);
  }
  noteRepeat("launched");
  try {
    await deps.state.modify((s) => ({
      next: { ...s, subnetIndex: instance.nextSubnetIndex, throttleDelayMs: 0 },
      result: undefined,
    }));
    const launchedAt = new Date(now());
    // One write: the record replaces the intent.
    await deps.store.recordLaunch(uuid, {
      instanceId: instance.instanceId,
      instanceType: instanceType.Name,
      ...(instance.subnetId === undefined ? {} : { subnetId: instance.subnetId }),
      attempt: lockCount,
      launchedAt: launchedAt.toISOString(),
    });
    record({
      kind: "launched",
      uuid,
      instanceType: instanceType.Name,
      queuedMs: launchedAt.getTime() - Date.parse(entry.firstSeenAt),
    });
    return "launched";
  } catch (err) {
    // The instance exists but is not recorded: the intent stays, and the next pass's repeat
    // gets this instance back from EC2 and records it.
    record(failure(uuid, "launch", err));
    return undefined;
  }
}

/**
 * Capacity, quota and throttle errors update the shared state (§4.1, §4.3); others are failures.
 * Every error stores the subnet index the call ended on (§4.3: "even on failure, so later calls
 * reveal other subnets' errors") and the throttle delay wrapError left: the new delay after a
 * throttle, unchanged after quota or capacity, 0 after anything else.
 */
async function applyLaunchError(attempt: Attempt, err: Ec2Error): Promise<TryOutcome> {
  const { deps, launch, now } = attempt;
  const uuid = launch.entry.container.uuid;
  const t = now();
  const ended = (s: DispatchState): DispatchState => ({ ...s, subnetIndex: err.nextSubnetIndex ?? s.subnetIndex });
  if (err instanceof Ec2CapacityError) {
    launch.record({ kind: "cloud-refused", uuid, reason: "capacity" });
    await deps.state.modify((s) => ({
      next: ended({ ...s, ...applyCapacityError(s, err.capacityKey, t) }),
      result: undefined,
    }));
    return "capacity";
  }
  if (err instanceof Ec2QuotaError) {
    launch.record({ kind: "cloud-refused", uuid, reason: "quota" });
    await deps.state.modify((s) => ({
      next: ended({ ...s, ...applyQuotaError(s, launch.liveInstances() + 1, t) }),
      result: undefined,
    }));
    return "quota";
  }
  if (err instanceof Ec2ThrottleError) {
    launch.record({ kind: "cloud-refused", uuid, reason: "throttle" });
    await deps.state.modify((s) => ({
      next: ended({ ...s, ...applyThrottle(s, err.earliestRetry.getTime()), throttleDelayMs: err.retryAfterMs }),
      result: undefined,
    }));
    return "throttle";
  }
  await deps.state.modify((s) => ({ next: ended({ ...s, throttleDelayMs: 0 }), result: undefined }));
  launch.record(failure(uuid, "launch", err));
  return undefined;
}

/** Gives a lock back, recording the unlock or its failure (the pass counts both). */
export async function unlockRecorded(
  deps: Pick<LaunchDeps, "queue">,
  uuid: string,
  record: (event: LaunchEvent) => void,
): Promise<void> {
  try {
    await deps.queue.unlock(uuid);
    record({ kind: "unlocked", uuid });
  } catch (err) {
    record(failure(uuid, "unlock", err));
  }
}
