import { ContainerState } from "../model/container.js";
import { poolTimeoutDefaults, poolTimeouts } from "../config/pool-timeouts.js";
import type { ClusterConfig } from "../config/types.js";
import type { QueueEntry } from "../model/entry.js";
import { currentIntent, currentLaunch, InstanceIndex, isPresent } from "./instances.js";
import { IdleBehavior, type InstanceView, UNLISTED_GRACE_MS } from "../model/instance.js";

/**
 * Why a reconcile decision was made: short, constant, low-cardinality (a metric dimension).
 * Upstream's sync reasons (§3.4) shortened; "stopped" is ours (see instanceRule).
 */
export const ReconcileReason = {
  finished: "finished",
  onHold: "on hold",
  queuedWithInstance: "queued-with-instance",
  notRunning: "not running on any instance",
  priorityZero: "priority=0",
  instanceGone: "instance gone",
  timeoutBooting: "TimeoutBooting",
  /** A pool worker idle past TimeoutIdle plus a sweep (worker-idle.ts). */
  timeoutIdle: "TimeoutIdle",
  notInQueue: "not in queue",
  duplicate: "duplicate",
  stopped: "stopped",
  drain: "drain",
} as const;
export type ReconcileReason = (typeof ReconcileReason)[keyof typeof ReconcileReason];

/** §4.1 pool default when Containers.CloudVMs.TimeoutBooting is 0. */
export const DEFAULT_TIMEOUT_BOOTING_MS = poolTimeoutDefaults.timeoutBootingMs;

/**
 * Extra time a *running* instance gets, beyond TimeoutBooting, to make its container Running.
 * Upstream's TimeoutBooting ends at the boot probe, before crunch-run starts; our first sign of
 * life is the container becoming Running, which crunch-run sets only after loading the image
 * and setting up mounts, so a large image must not be mistaken for a failed boot (a requeue
 * loop until MaxDispatchAttempts cancels it). A pending instance gets TimeoutBooting alone.
 */
export const IMAGE_LOAD_ALLOWANCE_MS = 60 * 60_000;

/** Everything one reconcile pass looks at. Times are epoch ms. */
export interface PlanReconcileInput {
  entries: readonly QueueEntry[];
  /** Our instance set's instances, listed after `threshold`. */
  instances: readonly InstanceView[];
  /** Start time of the queue's last successful update: cached states are at least this fresh. */
  threshold: number;
  now: number;
  config: ClusterConfig;
}

/** The outcome of one reconcile pass (§3.4, §3.5 adapted to one instance per container). */
export interface ReconcilePlan {
  /** Entries to drop from the queue (finished, or Queued on hold). */
  forget: string[];
  cancel: { uuid: string; reason: ReconcileReason }[];
  unlock: { uuid: string; reason: ReconcileReason }[];
  terminate: { instanceId: string; reason: ReconcileReason }[];
  /** Instances tagged for a container the queue does not hold: ask Arvados whether we hold its lock. */
  verifyOrphan: { instanceId: string; containerUuid: string; reason: ReconcileReason }[];
  /**
   * Instances of our InstanceSetID that this dispatcher did not launch (no container tag): e.g.
   * an `arvados-dispatch-cloud` worker during an upgrade. Never terminated here, only reported.
   */
  foreign: string[];
  /** Instances on hold that a rule would have terminated (or verified as orphans): left alone, with that rule's reason. */
  held: { instanceId: string; reason: ReconcileReason }[];
  /**
   * Pool workers (issue #18): one container to stop through the channel (a `kill:<attempt>`
   * order tag), where a one-container instance would be terminated, so its neighbours on the
   * worker run on.
   */
  kill: { instanceId: string; containerUuid: string; attempt: number; reason: ReconcileReason }[];
}

/** An instance on hold is terminated by nothing automatic (upstream eligibleForShutdown, shutdownIfBroken). */
function onHold(inst: InstanceView): boolean {
  return inst.idleBehavior === IdleBehavior.hold;
}

/** A drained instance still booting is idle: upstream shuts a draining booting worker down at once. */
function drainedBooting(inst: InstanceView): boolean {
  return inst.idleBehavior === IdleBehavior.drain && inst.state === "pending";
}

/** Collects decisions; one decision per container or instance, the first rule to speak wins. */
class Decisions {
  readonly forget = new Set<string>();
  readonly cancel = new Map<string, ReconcileReason>();
  readonly unlock = new Map<string, ReconcileReason>();
  readonly terminate = new Map<string, ReconcileReason>();
  readonly verifyOrphan: ReconcilePlan["verifyOrphan"] = [];
  readonly foreign: string[] = [];
  readonly held = new Map<string, ReconcileReason>();
  readonly kill: ReconcilePlan["kill"] = [];

  /**
   * Stops `entry`'s container on each of `instances` for `reason`. A one-container instance is
   * terminated (stop); on a pool worker only that container is stopped, through the channel: a
   * finished container needs nothing (crunch-run is done; the agent powers an idle worker off), a
   * worker still pending past TimeoutBooting runs nothing and is terminated, anything else gets
   * a kill order for the container's current attempt.
   */
  stopContainer(entry: QueueEntry, instances: readonly InstanceView[], reason: ReconcileReason): void {
    for (const inst of instances) {
      if (inst.worker !== true) {
        this.stop(inst, reason);
        continue;
      }
      if (reason === ReconcileReason.finished) continue;
      if (reason === ReconcileReason.timeoutBooting && inst.state === "pending") {
        this.stop(inst, reason);
        continue;
      }
      const attempt = currentLaunch(entry)?.attempt;
      if (attempt !== undefined)
        this.kill.push({ instanceId: inst.instanceId, containerUuid: entry.container.uuid, attempt, reason });
    }
  }

  /** Terminate `inst` for `reason`, unless another rule already did, or it is on hold. */
  stop(inst: InstanceView, reason: ReconcileReason): void {
    if (this.terminate.has(inst.instanceId)) return;
    if (onHold(inst)) {
      if (!this.held.has(inst.instanceId)) this.held.set(inst.instanceId, reason);
    } else {
      this.terminate.set(inst.instanceId, reason);
    }
  }

  terminateAll(instances: readonly InstanceView[], reason: ReconcileReason): void {
    for (const inst of instances) this.stop(inst, reason);
  }

  plan(): ReconcilePlan {
    return {
      forget: [...this.forget],
      cancel: [...this.cancel].map(([uuid, reason]) => ({ uuid, reason })),
      unlock: [...this.unlock].map(([uuid, reason]) => ({ uuid, reason })),
      terminate: [...this.terminate].map(([instanceId, reason]) => ({ instanceId, reason })),
      verifyOrphan: this.verifyOrphan,
      foreign: this.foreign,
      held: [...this.held].map(([instanceId, reason]) => ({ instanceId, reason })),
      kill: this.kill,
    };
  }
}

/** What an entry rule sees. */
interface EntryContext {
  entry: QueueEntry;
  index: InstanceIndex;
  /** Live instances bound to the entry (upstream: "running on a worker"). */
  live: InstanceView[];
  threshold: number;
  now: number;
  timeoutBooting: number;
  out: Decisions;
}

/**
 * When every instance bound to the entry has ended, the latest time one of them may have ended;
 * undefined while any still exists; -Infinity when there is none to go by. An instance missing
 * from the listing may just not be listed yet, so its end is its launch plus a grace period; so
 * is that of the instance a call of unknown outcome (an open launch intent) may have started.
 */
function lastInstanceEnd(entry: QueueEntry, index: InstanceIndex): number | undefined {
  const all = index.allFor(entry);
  if (all.some((inst) => inst.state !== "terminated")) return undefined;
  let end = Number.NEGATIVE_INFINITY;
  for (const inst of all) end = Math.max(end, Date.parse(inst.terminatedAt ?? inst.launchTime));
  const launch = currentLaunch(entry);
  if (launch !== undefined && index.launchUnlisted(entry)) {
    end = Math.max(end, Date.parse(launch.launchedAt) + UNLISTED_GRACE_MS);
  }
  const intent = currentIntent(entry);
  if (launch === undefined && intent !== undefined)
    end = Math.max(end, Date.parse(intent.writtenAt) + UNLISTED_GRACE_MS);
  return end;
}

/** Complete/Cancelled (§3.4): stop whatever still runs it; forget it once nothing runs it. */
function finishedRule({ entry, index, live, out }: EntryContext): void {
  out.stopContainer(entry, index.allFor(entry).filter(isPresent), ReconcileReason.finished);
  // A pool worker outlives its finished containers: only a one-container instance holds the entry.
  if (live.every((inst) => inst.worker === true)) out.forget.add(entry.container.uuid);
}

/**
 * Queued (§3.4): an instance running a Queued container is wrong (kill "pool says running, but
 * queue says state=Queued"), but only once the queue saw it Queued after the instance started, so
 * a lock taken moments ago is not undone by a stale cache. On hold with no instance → forget.
 */
function queuedRule({ entry, live, threshold, out }: EntryContext): void {
  if (live.length > 0) {
    out.stopContainer(
      entry,
      live.filter((inst) => threshold > Date.parse(inst.launchTime)),
      ReconcileReason.queuedWithInstance,
    );
  } else if (entry.container.priority === 0n) {
    out.forget.add(entry.container.uuid);
  }
}

/**
 * Running (§3.4): no instance runs it → cancel, but only if the queue saw it Running after the
 * last instance ended (upstream `qUpdated.After(exited)`): a container that finished normally
 * would otherwise be cancelled on stale data. Priority 0 with an instance → stop the instance.
 */
function runningRule({ entry, index, live, threshold, out }: EntryContext): void {
  if (live.length > 0) {
    if (entry.container.priority === 0n) out.stopContainer(entry, live, ReconcileReason.priorityZero);
    return;
  }
  let end = lastInstanceEnd(entry, index);
  if (end === undefined) return; // still shutting down (or stopped: instanceRule ends it)
  // Nothing ever ran it that we know of: require the queue to have seen it since we first did.
  if (end === Number.NEGATIVE_INFINITY) end = Date.parse(entry.firstSeenAt);
  if (threshold > end) out.cancel.set(entry.container.uuid, ReconcileReason.notRunning);
}

/**
 * Locked (§3.4, §3.5): priority 0 → stop the instance, then requeue; the launched instance is
 * gone → requeue (upstream "crunch-run exited"); an instance still pending TimeoutBooting after
 * its launch, or running TimeoutBooting + IMAGE_LOAD_ALLOWANCE_MS after it without having made
 * the container Running, never booted → terminate and requeue (§4.1 boot timeout). A
 * RunInstances call whose outcome stayed unknown TimeoutBooting long (an open launch intent: EC2
 * unreachable, or its token bound to other parameters since a config change) → requeue as well:
 * the next lock has another lock_count, so another ClientToken, and an instance the call did
 * start is then ended by the queued or duplicate rules. Both time checks use the threshold, so a
 * container that just started is not judged on a stale cached state.
 */
function lockedRule({ entry, index, live, threshold, now, timeoutBooting, out }: EntryContext): void {
  const uuid = entry.container.uuid;
  if (entry.container.priority === 0n) {
    if (live.length > 0) out.stopContainer(entry, live, ReconcileReason.priorityZero);
    // A pool worker keeps running: the kill order keeps it from starting the container, which
    // goes back to the queue at once, as with no instance.
    if (live.length === 0 || live.every((inst) => inst.worker === true))
      out.unlock.set(uuid, ReconcileReason.priorityZero);
    return;
  }
  const launch = currentLaunch(entry);
  if (live.length > 0) {
    const own = launch === undefined ? live : live.filter((inst) => inst.instanceId === launch.instanceId);
    // Drained while booting: it will never run the container, which goes back to the queue.
    if (own.length > 0 && own.every(drainedBooting)) {
      out.stopContainer(entry, own, ReconcileReason.drain);
      out.unlock.set(uuid, ReconcileReason.drain);
      return;
    }
    // On hold, an instance keeps its container's lock: it may still start it.
    const overdue = own.filter((inst) => {
      // A pool worker got this container when it was assigned, maybe long after its launch.
      const assignedAt = inst.worker === true && launch !== undefined ? Date.parse(launch.launchedAt) : Number.NaN;
      const launched = Math.max(Date.parse(inst.launchTime), Number.isFinite(assignedAt) ? assignedAt : 0);
      const limit = inst.state === "pending" ? timeoutBooting : timeoutBooting + IMAGE_LOAD_ALLOWANCE_MS;
      return !onHold(inst) && now - launched > limit && threshold - launched > limit;
    });
    if (overdue.length > 0) {
      out.stopContainer(entry, overdue, ReconcileReason.timeoutBooting);
      out.unlock.set(uuid, ReconcileReason.timeoutBooting);
    }
    return;
  }
  if (launch === undefined) {
    // Not launched yet, or its launch is being repeated: planQueue's job, for TimeoutBooting.
    const intent = currentIntent(entry);
    const written = intent === undefined ? undefined : Date.parse(intent.writtenAt);
    if (written !== undefined && now - written > timeoutBooting && threshold - written > timeoutBooting) {
      out.unlock.set(uuid, ReconcileReason.timeoutBooting);
    }
    return;
  }
  const end = lastInstanceEnd(entry, index);
  if (end !== undefined && threshold > end) out.unlock.set(uuid, ReconcileReason.instanceGone);
}

/** §3.4 table as data: the rule for each cached state. */
const entryRules: Record<ContainerState, (ctx: EntryContext) => void> = {
  [ContainerState.Queued]: queuedRule,
  [ContainerState.Locked]: lockedRule,
  [ContainerState.Running]: runningRule,
  [ContainerState.Complete]: finishedRule,
  [ContainerState.Cancelled]: finishedRule,
};

/**
 * Rules that look at one present instance rather than an entry: no container tag → not ours,
 * left alone; drained while booting → idle, terminated (its Locked container is requeued by the
 * locked rule); tagged for a container we do not hold → let the caller verify with Arvados
 * (§3.4 "not in queue"); a second instance for a container whose current launch names another →
 * duplicate; stopped → it can never run anything again (ours terminate on shutdown). An
 * instance on hold is only reported (Decisions.stop).
 */
function instanceRule(
  inst: InstanceView,
  byUuid: ReadonlyMap<string, QueueEntry>,
  launchedBy: ReadonlyMap<string, string>,
  out: Decisions,
): void {
  if (out.terminate.has(inst.instanceId)) return;
  const uuid = inst.containerUuid || launchedBy.get(inst.instanceId);
  // A pool worker with no cached container is ours (the Worker tag is set at its launch), idle:
  // the TimeoutIdle backstop (worker-idle.ts) bounds it, not the foreign report.
  if ((uuid === undefined || uuid === "") && inst.worker === true) return;
  if (uuid === undefined || uuid === "") {
    // §4.1 tag-at-create gives every instance we launch its container tag: without one, it is
    // someone else's (upstream's dispatcher shares the InstanceSetID), and may run a container.
    out.foreign.push(inst.instanceId);
    return;
  }
  if (drainedBooting(inst)) {
    out.stop(inst, ReconcileReason.drain);
    return;
  }
  const entry = byUuid.get(uuid);
  if (entry === undefined) {
    if (onHold(inst)) out.stop(inst, ReconcileReason.notInQueue);
    else
      out.verifyOrphan.push({ instanceId: inst.instanceId, containerUuid: uuid, reason: ReconcileReason.notInQueue });
    return;
  }
  const launch = currentLaunch(entry);
  if (launch !== undefined && launch.instanceId !== inst.instanceId) {
    out.stop(inst, ReconcileReason.duplicate);
  } else if (inst.state === "stopped" || inst.state === "stopping") {
    out.stop(inst, ReconcileReason.stopped);
  }
}

/**
 * Plans one reconcile pass between the queue and our instances (§3.4 sync, §3.5 stale locks,
 * with instances in place of workers): what to forget, cancel, unlock, terminate, and which
 * unknown instances to verify. Pure: no I/O, `now` and `threshold` are inputs.
 */
export function planReconcile(input: PlanReconcileInput): ReconcilePlan {
  const { threshold, now, config } = input;
  const timeoutBooting = poolTimeouts(config).timeoutBootingMs;
  const index = new InstanceIndex(input.instances);
  const out = new Decisions();

  const byUuid = new Map<string, QueueEntry>();
  const launchedBy = new Map<string, string>();
  for (const entry of input.entries) {
    byUuid.set(entry.container.uuid, entry);
    const launch = currentLaunch(entry);
    if (launch !== undefined) launchedBy.set(launch.instanceId, entry.container.uuid);
  }

  for (const entry of input.entries) {
    const live = index.liveFor(entry);
    entryRules[entry.container.state]({ entry, index, live, threshold, now, timeoutBooting, out });
  }
  for (const inst of input.instances) {
    if (isPresent(inst)) instanceRule(inst, byUuid, launchedBy, out);
  }
  return out.plan();
}
