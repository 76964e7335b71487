/**
 * The work of one pool-mode plan (issue #18): lock, give containers to existing workers through
 * the channel, and start new workers in batches, one RunInstances per (type, subnet) group.
 * Mirrors launch-container.ts for one-instance-per-container, with the same intent discipline:
 * every entry of a batch holds the same intent (the call's type definition, subnet, ClientToken
 * and batch), written before the call; while the call's outcome is unknown the next pass sends
 * exactly that call again; a partial answer leaves the containers without an instance Locked,
 * their intents cleared, for the next pass.
 */
import { Ec2CapacityError, Ec2Error, Ec2QuotaError, Ec2ThrottleError } from "../model/cloud-errors.js";
import type { LaunchIntent, LaunchRecord, QueueEntry } from "../model/entry.js";
import type { LaunchCall, LaunchedWorkers } from "../model/instance-cloud.js";
import type { InstanceType } from "../model/instance-type.js";
import { type Batch, batchKey, parseBatchKey } from "../model/worker-batch.js";
import { runBounded } from "../model/run-bounded.js";
import { StaleEntryError } from "../model/stale-entry.js";
import { applyCapacityError, applyQuotaError, applyThrottle, isThrottled } from "../scheduler/capacity.js";
import type { PoolPlan } from "../scheduler/plan-pool.js";
import { failure, type LaunchEvent, type Stop, unlockRecorded } from "./launch-container.js";
import type { LaunchDeps, PoolDeps } from "./ports.js";

/** How long one invocation's claim on an entry lasts (as launch-container.ts). */
const entryClaimMs = 60_000;

/**
 * Containers claimed and locked at once (upstream locks each in its own goroutine): a batch's
 * one RunInstances waits for all of its locks, which one after another would cost a burst's
 * size in round trips.
 */
const memberConcurrency = 8;

/** A container of this pass, claimed, Locked by us, with its lock_count. */
interface Member {
  entry: QueueEntry;
  lockCount: number;
}

/** The members of each new instance of a batch, by launch index; undefined where a repeat found an entry no longer ours. */
type Instances = readonly (readonly (Member | undefined)[])[];

/** A batch's containers as the cloud port takes them. */
const batchOfMembers = (instances: readonly (readonly Member[])[]): Batch =>
  instances.map((ms) => ms.map((m) => ({ containerUuid: m.entry.container.uuid, attempt: m.lockCount })));

/**
 * Does the work `plan` asks for, in order: repeats of open batched intents, locks, assignments
 * to existing workers (the record first, then the order tag, so a lost tag shows as a Locked
 * container that never starts, which cleanup requeues, never as a second crunch-run), then one
 * batched create per group. Returns a Stop when the rest must wait for the cloud.
 */
export async function workPoolPlan(
  deps: LaunchDeps,
  pool: PoolDeps,
  plan: PoolPlan,
  entries: ReadonlyMap<string, QueueEntry>,
  record: (event: LaunchEvent) => void,
  liveInstances: () => number,
  timeLeft: () => boolean,
): Promise<{ stop?: Stop; started: number }> {
  const now = deps.now ?? Date.now;
  const claimed = new Set<string>();
  const done = new Set<string>();
  let started = 0;
  const claim = async (uuid: string) => {
    if (claimed.has(uuid)) return true;
    if (!(await deps.store.claimEntry(uuid, deps.owner, now(), entryClaimMs))) return false;
    claimed.add(uuid);
    return true;
  };
  const member = async (uuid: string, lock: boolean): Promise<Member | undefined> => {
    const entry = entries.get(uuid);
    if (entry === undefined || !(await claim(uuid))) return undefined;
    if (lock) {
      try {
        await deps.queue.lock(uuid);
        record({ kind: "locked", uuid });
      } catch (err) {
        record(failure(uuid, "lock", err));
        return undefined;
      }
    }
    const held = await deps.queue.heldLock(uuid);
    if (held?.state !== "Locked" || held.lockCount === undefined) return undefined;
    return { entry, lockCount: held.lockCount };
  };
  const recordLaunch = async (m: Member, launch: Omit<LaunchRecord, "attempt" | "launchedAt">) => {
    const launchedAt = new Date(now());
    await deps.store.recordLaunch(m.entry.container.uuid, {
      ...launch,
      attempt: m.lockCount,
      launchedAt: launchedAt.toISOString(),
    });
    done.add(m.entry.container.uuid);
    record({
      kind: "launched",
      uuid: m.entry.container.uuid,
      instanceType: launch.instanceType,
      queuedMs: launchedAt.getTime() - Date.parse(m.entry.firstSeenAt),
    });
  };
  const locks = new Set(plan.lock);
  // Members in the order given; a container this invocation has no time left for is skipped, unlocked.
  const members = (uuids: readonly string[]) =>
    runBounded(
      uuids.map((uuid) => async () => (timeLeft() ? member(uuid, locks.has(uuid)) : undefined)),
      memberConcurrency,
    );

  try {
    // 1. Open batched intents: the same call again, whatever the plan would choose now.
    for (const group of plan.repeat) {
      if (!timeLeft()) return { stop: "budget", started };
      const stop = await repeatGroup(deps, pool, group.uuids, entries, claim, recordLaunch, record);
      if (stop !== undefined) return { stop, started };
    }

    // 2. Existing workers: lock (Queued), record, then one CreateTags per worker.
    const byWorker = new Map<string, Member[]>();
    const typeOfWorker = new Map(plan.assign.map((a) => [a.instanceId, a.instanceType]));
    const assigned = await members(plan.assign.map((a) => a.uuid));
    for (const [i, a] of plan.assign.entries()) {
      const m = assigned[i];
      if (m === undefined) continue;
      const list = byWorker.get(a.instanceId) ?? [];
      list.push(m);
      byWorker.set(a.instanceId, list);
    }
    for (const [instanceId, onWorker] of byWorker) {
      const outcomes = await runBounded(
        onWorker.map((m) => async () => {
          try {
            await recordLaunch(m, { instanceId, instanceType: typeOfWorker.get(instanceId) ?? "", assignedBy: "tag" });
            return m;
          } catch (err) {
            record(failure(m.entry.container.uuid, "launch", err));
            return undefined;
          }
        }),
        memberConcurrency,
      );
      const recorded = outcomes.filter((m) => m !== undefined);
      if (recorded.length === 0) continue;
      try {
        await pool.cloud.assign(
          instanceId,
          recorded.map((m) => ({ containerUuid: m.entry.container.uuid, attempt: m.lockCount })),
        );
      } catch (err) {
        // Recorded but not ordered: the container stays Locked on a worker that never starts it,
        // and cleanup's TimeoutBooting rule gives the lock back.
        for (const m of recorded) record(failure(m.entry.container.uuid, "launch", err));
      }
    }

    // 3. New workers: one RunInstances (one bucket token) per group; an instance whose
    // containers all failed their lock or claim drops out, the others move up a launch index.
    for (const group of plan.create) {
      if (!timeLeft()) return { stop: "budget", started };
      const resolved = await members(group.instances.flat());
      let next = 0;
      const onInstances: Member[][] = [];
      for (const uuids of group.instances) {
        const onInstance = resolved.slice(next, next + uuids.length).filter((m) => m !== undefined);
        next += uuids.length;
        if (onInstance.length > 0) onInstances.push(onInstance);
      }
      if (onInstances.length === 0) continue;
      const s = await deps.state.read();
      if (isThrottled(s.value, now())) return { stop: "throttle", started };
      if (!(await deps.tokens.takeWithin(0))) return { stop: "throttle", started };
      const outcome = await createBatch(
        deps,
        pool,
        group.instanceType,
        onInstances,
        s.value,
        recordLaunch,
        record,
        liveInstances,
      );
      if (typeof outcome === "number") started += outcome;
      else if (outcome !== undefined && outcome !== "capacity") return { stop: outcome, started };
    }
    return { started };
  } finally {
    for (const uuid of claimed)
      if (!done.has(uuid)) await deps.store.releaseEntry(uuid, deps.owner).catch(() => undefined);
  }
}

type Recorder = (m: Member, launch: Omit<LaunchRecord, "attempt" | "launchedAt">) => Promise<void>;

/** Maps the reply's instances to the batch by AmiLaunchIndex, records them; members left without one are freed. */
async function settle(
  deps: LaunchDeps,
  instanceType: InstanceType,
  instances: Instances,
  result: LaunchedWorkers,
  recordLaunch: Recorder,
  record: (event: LaunchEvent) => void,
): Promise<number> {
  const byIndex = new Map(result.instances.map((i) => [i.launchIndex, i.instanceId]));
  const settleOne = async (m: Member, instanceId: string | undefined): Promise<number> => {
    if (instanceId === undefined) {
      // A partial answer (MinCount 1): this container waits, Locked, for the next pass.
      await deps.store.clearLaunchIntent(m.entry.container.uuid, deps.owner, result.clientToken).catch(() => false);
      return 0;
    }
    try {
      await recordLaunch(m, {
        instanceId,
        instanceType: instanceType.Name,
        ...(result.subnetId === undefined ? {} : { subnetId: result.subnetId }),
        assignedBy: "userData",
      });
      return 1;
    } catch (err) {
      // The intent stays: the next pass's repeat gets this instance back from EC2 and records it.
      record(failure(m.entry.container.uuid, "launch", err));
      return 0;
    }
  };
  const tasks = [...instances.entries()].flatMap(([index, members]) =>
    members.flatMap((m) => (m === undefined ? [] : [() => settleOne(m, byIndex.get(index))])),
  );
  const counts = await runBounded(tasks, memberConcurrency);
  return counts.reduce((a, b) => a + b, 0);
}

/** One batched create: intents on every member before the call, then the call, then the records. */
async function createBatch(
  deps: LaunchDeps,
  pool: PoolDeps,
  instanceType: InstanceType,
  instances: readonly (readonly Member[])[],
  state: { subnetIndex: number; throttleDelayMs: number },
  recordLaunch: Recorder,
  record: (event: LaunchEvent) => void,
  liveInstances: () => number,
): Promise<number | Stop | "capacity" | undefined> {
  const now = deps.now ?? Date.now;
  const members = instances.flat();
  const batch = batchKey(batchOfMembers(instances));
  let inFlight: string | undefined;
  const written: Member[] = [];
  const beforeCall = async (call: LaunchCall, follows: LaunchCall | undefined) => {
    const intent: LaunchIntent = {
      attempt: 0,
      instanceType: instanceType.Name,
      definition: instanceType,
      ...(call.subnetId === undefined ? {} : { subnetId: call.subnetId }),
      clientToken: call.clientToken,
      writtenAt: new Date(now()).toISOString(),
      batch,
    };
    written.length = 0;
    // Throws StaleEntryError when an entry is no longer ours (once every write has settled): nothing is sent then.
    await runBounded(
      members.map((m) => async () => {
        await deps.store.writeLaunchIntent(
          m.entry.container.uuid,
          deps.owner,
          { ...intent, attempt: m.lockCount },
          follows?.clientToken,
        );
        written.push(m);
      }),
      memberConcurrency,
    );
    inFlight = call.clientToken;
  };
  try {
    const result = await pool.cloud.launchWorkers({
      batch: batchOfMembers(instances),
      instanceType,
      subnetIndex: state.subnetIndex,
      throttleDelayMs: state.throttleDelayMs,
      beforeCall,
      onAttempt: (start) => record({ kind: "start", ...start }),
    });
    await deps.state.modify((s) => ({
      next: { ...s, subnetIndex: result.nextSubnetIndex, throttleDelayMs: 0 },
      result: undefined,
    }));
    return settle(deps, instanceType, instances, result, recordLaunch, record);
  } catch (err) {
    const first = members[0]?.entry.container.uuid ?? "";
    if (err instanceof StaleEntryError) {
      // Some intents were written, the call was not sent: take them back.
      for (const m of written)
        await deps.store.clearLaunchIntent(m.entry.container.uuid, deps.owner, inFlight ?? "").catch(() => false);
      return undefined;
    }
    if (!(err instanceof Ec2Error) || err.outcome === "unknown") {
      // Instances may exist: every intent stays, and the next pass repeats exactly this call.
      record(failure(first, "launch", err));
      return undefined;
    }
    if (inFlight !== undefined)
      for (const m of members)
        await deps.store.clearLaunchIntent(m.entry.container.uuid, deps.owner, inFlight).catch(() => false);
    if (err.outcome === "terminated") {
      await giveBackLocks(deps, members, err, record);
      return undefined;
    }
    return applyBatchError(deps, err, first, record, liveInstances, now());
  }
}

/**
 * The call of these locks started instances that are gone already (IdempotentInstanceTerminated:
 * a worker that powered off, or was ended, before its containers ran): give the locks back, as
 * launch-container.ts does for one container and cleanup for a launched instance that is gone
 * (§3.4). The same locks would make the same batch and the same ClientToken, and EC2 the same
 * answer, forever; the next lock has a new token.
 */
async function giveBackLocks(
  deps: LaunchDeps,
  members: readonly (Member | undefined)[],
  err: Ec2Error,
  record: (event: LaunchEvent) => void,
): Promise<void> {
  for (const m of members) {
    if (m === undefined) continue;
    const uuid = m.entry.container.uuid;
    record(failure(uuid, "launch", err));
    await unlockRecorded(deps, uuid, record);
  }
}

/** Capacity, quota and throttle errors update the shared state (§4.1, §4.3), as for one container. */
async function applyBatchError(
  deps: LaunchDeps,
  err: Ec2Error,
  uuid: string,
  record: (event: LaunchEvent) => void,
  liveInstances: () => number,
  t: number,
): Promise<Stop | "capacity" | undefined> {
  const ended = <S extends { subnetIndex: number }>(s: S): S => ({
    ...s,
    subnetIndex: err.nextSubnetIndex ?? s.subnetIndex,
  });
  if (err instanceof Ec2CapacityError) {
    record({ kind: "cloud-refused", uuid, reason: "capacity" });
    await deps.state.modify((s) => ({
      next: ended({ ...s, ...applyCapacityError(s, err.capacityKey, t) }),
      result: undefined,
    }));
    return "capacity";
  }
  if (err instanceof Ec2QuotaError) {
    record({ kind: "cloud-refused", uuid, reason: "quota" });
    await deps.state.modify((s) => ({
      next: ended({ ...s, ...applyQuotaError(s, liveInstances() + 1, t) }),
      result: undefined,
    }));
    return "quota";
  }
  if (err instanceof Ec2ThrottleError) {
    record({ kind: "cloud-refused", uuid, reason: "throttle" });
    await deps.state.modify((s) => ({
      next: ended({ ...s, ...applyThrottle(s, err.earliestRetry.getTime()), throttleDelayMs: err.retryAfterMs }),
      result: undefined,
    }));
    return "throttle";
  }
  await deps.state.modify((s) => ({ next: ended({ ...s, throttleDelayMs: 0 }), result: undefined }));
  record(failure(uuid, "launch", err));
  return undefined;
}

/**
 * Sends an open batched intent's call again, exactly (its type definition, subnet, ClientToken
 * and batch, so the same user data and MaxCount), and records what EC2 returns by launch index.
 * Only the batch members whose entries still hold that intent are recorded; EC2 returns the
 * instances the first call started, or starts them now if it never arrived.
 */
async function repeatGroup(
  deps: LaunchDeps,
  pool: PoolDeps,
  uuids: readonly string[],
  entries: ReadonlyMap<string, QueueEntry>,
  claim: (uuid: string) => Promise<boolean>,
  recordLaunch: Recorder,
  record: (event: LaunchEvent) => void,
): Promise<Stop | undefined> {
  const intent = entries.get(uuids[0] ?? "")?.launchIntent;
  if (intent?.batch === undefined || intent.definition === undefined) return undefined;
  const batch = parseBatchKey(intent.batch);
  const instances: (Member | undefined)[][] = [];
  for (const onInstance of batch) {
    const members: (Member | undefined)[] = [];
    for (const b of onInstance) {
      const entry = entries.get(b.containerUuid);
      const ours = entry?.launchIntent?.clientToken === intent.clientToken && uuids.includes(b.containerUuid);
      members.push(
        ours && entry !== undefined && (await claim(b.containerUuid)) ? { entry, lockCount: b.attempt } : undefined,
      );
    }
    instances.push(members);
  }
  const members = instances.flat();
  const now = deps.now ?? Date.now;
  const s = await deps.state.read();
  if (isThrottled(s.value, now())) return "throttle";
  if (!(await deps.tokens.takeWithin(0))) return "throttle";
  try {
    const result = await pool.cloud.launchWorkers({
      batch,
      instanceType: intent.definition,
      subnetIndex: s.value.subnetIndex,
      throttleDelayMs: s.value.throttleDelayMs,
      repeat: { subnetId: intent.subnetId, clientToken: intent.clientToken },
      onAttempt: (start) => record({ kind: "start", ...start }),
    });
    for (const m of members)
      if (m !== undefined)
        record({
          kind: "repeated",
          uuid: m.entry.container.uuid,
          instanceType: intent.instanceType,
          outcome: "launched",
          typeConfigured: true,
        });
    await settle(deps, intent.definition, instances, result, recordLaunch, record);
    return undefined;
  } catch (err) {
    if (err instanceof Ec2Error && err.outcome !== "unknown") {
      // EC2 answered that the call started nothing: the intents go, the containers wait, Locked.
      for (const m of members)
        if (m !== undefined)
          await deps.store.clearLaunchIntent(m.entry.container.uuid, deps.owner, intent.clientToken).catch(() => false);
      if (err.outcome === "terminated") await giveBackLocks(deps, members, err, record);
      if (err instanceof Ec2ThrottleError) return "throttle";
      if (err instanceof Ec2QuotaError) return "quota";
      return undefined;
    }
    record(failure(uuids[0] ?? "", "launch", err));
    return undefined;
  }
}
