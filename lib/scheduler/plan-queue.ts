import { ContainerState, comparePriorityDesc, isFinalState } from "../model/container.js";
import type { ClusterConfig } from "../config/types.js";
import { type InstanceType, resolveInstanceTypes } from "../model/instance-type.js";
import type { QueueEntry } from "../model/entry.js";
import { isAtCapacity, isAtQuota, isThrottled } from "./capacity.js";
import type { CapacityState } from "../model/dispatch-state.js";
import { countsTowardQuota, currentIntent, currentLaunch, InstanceIndex, intentInstanceKey } from "./instances.js";
import type { InstanceView } from "../model/instance.js";
import { maxSupervisorsFor } from "./max-containers.js";
import {
  instanceTypeAtCapacityStatus,
  newInstanceStatus,
  priorityZeroStatus,
  queuePositionStatus,
  SchedulingStatus,
  supervisorLimitStatus,
} from "./status.js";

/** Everything one scheduling pass looks at. Plain data; `now` is epoch ms. */
export interface PlanQueueInput {
  entries: readonly QueueEntry[];
  /** Our instance set's instances, as listed now. */
  instances: readonly InstanceView[];
  capacity: CapacityState;
  config: ClusterConfig;
  now: number;
  /** The dynamic concurrency limit (see nextMaxContainers); 0 = unlimited. */
  maxContainers: number;
}

/**
 * A LaunchDecision says: start one instance of `instanceType` for this Locked container, and if
 * the cloud reports that type at capacity, try `fallbackTypes` in order (the entry's other
 * eligible types not known to be at capacity, cheapest first).
 */
export interface LaunchDecision {
  uuid: string;
  instanceType: InstanceType;
  fallbackTypes: InstanceType[];
}

/**
 * A LockDecision says: lock this Queued container. Here lock and launch happen in one
 * invocation, so it carries the launch the caller makes right after a successful lock.
 */
export type LockDecision = LaunchDecision;

/** The outcome of one pass (§3.3): what to lock, launch, unlock, and what to tell each waiting container. */
export interface QueuePlan {
  lock: LockDecision[];
  launch: LaunchDecision[];
  /** Locked containers to give back (over quota or over the supervisor limit), not holding an instance. */
  unlock: string[];
  /** Scheduling status per container uuid, for Queued and Locked entries (§3.3 status table). */
  statuses: Record<string, string>;
  /** Metric containers_not_allocated_over_quota: over quota plus over the supervisor limit. */
  overQuota: number;
  /** Metric containers_allocated_not_started: Locked with an instance booting, plus this pass's locks and launches. */
  allocatedNotStarted: number;
  /** AtQuota after this pass's planned launches (the at_quota gauge and the status wording). */
  atQuota: boolean;
  /** Containers waiting only because every eligible type is at capacity (§3.3 8.4): a capacity window's end should wake a pass (§4.1). */
  capacityBlocked: number;
}

/**
 * An entry "holds an instance" (upstream: present in `pool.Running()`) when a live instance is
 * bound to it, or when it is Locked and its current lock already launched one, or made a
 * RunInstances call whose outcome is unknown (an open launch intent: upstream's pool counts a
 * create in flight too). A second launch for the same lock could not start anything
 * (ClientToken = f(uuid, lock_count)), and an open intent's call is repeated instead
 * (repeatDecision); if that instance is gone, planReconcile unlocks the container.
 */
export function holdsInstance(entry: QueueEntry, index: InstanceIndex): boolean {
  if (index.liveFor(entry).length > 0) return true;
  if (entry.container.state !== ContainerState.Locked) return false;
  return currentLaunch(entry) !== undefined || currentIntent(entry) !== undefined;
}

/**
 * The launch that repeats the open intent of a Locked entry with no instance recorded for its
 * lock and none listed: the intent's type first, whatever its capacity state, because the
 * repeat sends the intent's own call (its subnet and ClientToken), which can start at most the
 * one instance that call may already have started. The entry's other types not at capacity
 * follow, for the launcher to try only once EC2 has answered that the repeated call started
 * nothing. A live instance the listing shows for the container holds it instead (§3.3), as
 * after any lost reply: no call is needed to learn what the listing already says.
 */
function repeatDecision(
  entry: QueueEntry,
  types: readonly InstanceType[],
  index: InstanceIndex,
  capacity: CapacityState,
  quotaGroups: Readonly<Record<string, string>>,
  now: number,
): LaunchDecision | undefined {
  if (entry.container.state !== ContainerState.Locked || currentLaunch(entry) !== undefined) return undefined;
  if (index.liveFor(entry).length > 0) return undefined;
  const intent = currentIntent(entry);
  if (intent === undefined) return undefined;
  // The definition the call was sent with: a repeat must send the same parameters.
  const intentType = intent.definition ?? types.find((it) => it.Name === intent.instanceType);
  // An old intent whose type has left the config: cleanup gives the lock back after
  // TimeoutBooting (planReconcile's lockedRule).
  if (intentType === undefined) return undefined;
  return {
    uuid: entry.container.uuid,
    instanceType: intentType,
    fallbackTypes: types.filter((it) => it.Name !== intentType.Name && !isAtCapacity(capacity, it, quotaGroups, now)),
  };
}

/** §3.3 sort: holding an instance first, then Locked, then priority desc, first seen asc, uuid asc. */
export function compareEntries(held: ReadonlySet<string>): (a: QueueEntry, b: QueueEntry) => number {
  const rank = (e: QueueEntry) =>
    (held.has(e.container.uuid) ? 0 : 2) + (e.container.state === ContainerState.Locked ? 0 : 1);
  return (a, b) =>
    rank(a) - rank(b) ||
    comparePriorityDesc(a.container.priority, b.container.priority) ||
    Date.parse(a.firstSeenAt) - Date.parse(b.firstSeenAt) ||
    (a.container.uuid < b.container.uuid ? -1 : a.container.uuid > b.container.uuid ? 1 : 0);
}

/** What both planners (one instance per container, and workers) derive before their §3.3 pass. */
export interface RunQueuePreparation {
  index: InstanceIndex;
  /** An entry's types as the current config defines them. */
  typesOf: (entry: QueueEntry) => InstanceType[];
  /** Entries holding an instance (upstream: in `pool.Running()`). */
  held: Set<string>;
  /** The entries the pass considers, in §3.3 order. */
  sorted: QueueEntry[];
  /** Instances counting toward quota, as listed. */
  totalInstances: number;
  /** Creates in flight the listing does not show: launched but unlisted, or a call whose outcome is unknown. */
  unlisted: number;
  throttled: boolean;
  maxSupervisors: number;
  underLimit: (trying: number) => boolean;
}

/**
 * §3.3 preparation shared by planQueue and planPool: which entries hold an instance, the
 * considered entries in order (no types, none still configured, or final: not considered), and
 * the counts §4.1 AtQuota and the limits need (AtQuota counts instances including creates in
 * flight: listed ones, launched ones the listing does not show yet, calls whose outcome is
 * unknown; each planner adds the ones its pass plans).
 */
export function prepareRunQueue(input: PlanQueueInput): RunQueuePreparation {
  const { config, capacity, now, maxContainers } = input;
  const index = new InstanceIndex(input.instances);
  const typesOf = (entry: QueueEntry) => resolveInstanceTypes(entry.instanceTypes, config.InstanceTypes);
  const held = new Set<string>();
  const considered: QueueEntry[] = [];
  for (const entry of input.entries) {
    if (holdsInstance(entry, index)) held.add(entry.container.uuid);
    // DESIGN: no types (none chosen, or none still configured), no launch.
    else if (isFinalState(entry.container.state) || typesOf(entry).length === 0) continue;
    considered.push(entry);
  }
  // Instances, not entries: containers packed onto one instance (pool mode) share its record or
  // its intent's launch index, and count once.
  const unlistedInstances = new Set<string>();
  for (const e of input.entries) {
    if (e.container.state !== ContainerState.Locked) continue;
    const launch = currentLaunch(e);
    const intent = currentIntent(e);
    if (launch !== undefined && index.launchUnlisted(e)) unlistedInstances.add(launch.instanceId);
    else if (launch === undefined && intent !== undefined && index.liveFor(e).length === 0)
      unlistedInstances.add(intentInstanceKey(e.container.uuid, intent));
  }
  const unlisted = unlistedInstances.size;
  return {
    index,
    typesOf,
    held,
    sorted: considered.sort(compareEntries(held)),
    totalInstances: input.instances.filter(countsTowardQuota).length,
    unlisted,
    throttled: isThrottled(capacity, now),
    maxSupervisors: maxSupervisorsFor(maxContainers, config.Containers.CloudVMs.SupervisorFraction),
    underLimit: (trying: number) => maxContainers === 0 || trying < maxContainers,
  };
}

/**
 * Plans one runQueue pass (§3.3), adapted to one instance per container: picks which Queued
 * containers to lock and which Locked ones get an instance, in priority order, under the
 * dynamic limit, MaxInstances, the cloud quota, the supervisor share and per-type capacity.
 * Entries without chosen instance types are left alone. Pure: no I/O, `now` is an input.
 */
export function planQueue(input: PlanQueueInput): QueuePlan {
  const { config, capacity, now } = input;
  const cloudVMs = config.Containers.CloudVMs;
  const quotaGroups = cloudVMs.DriverParameters.InstanceTypeQuotaGroups;
  const prep = prepareRunQueue(input);
  const { index, typesOf, held, sorted, totalInstances, unlisted, throttled, maxSupervisors, underLimit } = prep;
  let planned = 0;
  const atQuota = () => isAtQuota(capacity, totalInstances + unlisted + planned, cloudVMs.MaxInstances, now);

  const plan: QueuePlan = {
    lock: [],
    launch: [],
    unlock: [],
    statuses: {},
    overQuota: 0,
    allocatedNotStarted: 0,
    atQuota: false,
    capacityBlocked: 0,
  };
  const isWaiting = (e: QueueEntry) =>
    e.container.state === ContainerState.Queued || e.container.state === ContainerState.Locked;
  let overquota: QueueEntry[] = [];
  const overmaxsuper: QueueEntry[] = [];
  let trying = held.size;
  let qpos = 0;
  let supervisors = 0;

  for (const [i, entry] of sorted.entries()) {
    const ctr = entry.container;
    // §3.3 step 1: counted before the running check, so running supervisors count.
    if (ctr.scheduling_parameters.supervisor) supervisors++;
    if (held.has(ctr.uuid)) {
      if (isWaiting(entry)) plan.statuses[ctr.uuid] = SchedulingStatus.preparing;
      if (ctr.state === ContainerState.Locked) plan.allocatedNotStarted++;
      // §3.3 8.5 as for any create: no repeat while throttled; it waits, holding its place.
      const repeat = throttled ? undefined : repeatDecision(entry, typesOf(entry), index, capacity, quotaGroups, now);
      if (repeat !== undefined) {
        plan.launch.push(repeat);
        plan.statuses[ctr.uuid] = newInstanceStatus(repeat.instanceType.Name);
      }
      continue;
    }
    if (ctr.priority === 0n) {
      plan.statuses[ctr.uuid] = priorityZeroStatus(ctr.state);
      continue;
    }
    if (ctr.scheduling_parameters.supervisor && maxSupervisors > 0 && supervisors > maxSupervisors) {
      overmaxsuper.push(entry);
      plan.statuses[ctr.uuid] = supervisorLimitStatus(overmaxsuper.length);
      continue;
    }
    // §3.3 step 6: cheapest eligible type not at capacity. Upstream also remembers types found
    // at capacity earlier in the pass because its pool's flags can change mid-pass; the
    // capacity state here is fixed for the pass, so asking again gives the same answer.
    const types = typesOf(entry);
    const [available, ...fallbackTypes] = types.filter((it) => !isAtCapacity(capacity, it, quotaGroups, now));

    if (ctr.state === ContainerState.Queued) {
      if (!underLimit(trying)) continue;
      trying++;
      if (atQuota()) {
        overquota = sorted.slice(i);
        break;
      }
      // §3.3 7.3: not locked while every type is at capacity.
      if (available === undefined) {
        plan.capacityBlocked++;
        continue;
      }
      plan.lock.push({ uuid: ctr.uuid, instanceType: available, fallbackTypes });
      // The caller launches right after locking, so the lock already plans an instance.
      planned++;
      plan.allocatedNotStarted++;
      plan.statuses[ctr.uuid] = newInstanceStatus(available.Name);
    } else if (ctr.state === ContainerState.Locked) {
      if (!underLimit(trying)) continue;
      trying++;
      if (atQuota()) {
        // §3.3 8.3: stop here so lower-priority containers cannot starve this one.
        overquota = sorted.slice(i);
        break;
      }
      if (available === undefined) {
        // §3.3 8.4: keep going: lower-priority containers may use other types.
        qpos++;
        plan.capacityBlocked++;
        plan.statuses[ctr.uuid] = instanceTypeAtCapacityStatus(
          qpos,
          types.map((it) => it.Name),
        );
        continue;
      }
      if (throttled) continue; // §3.3 8.5: the pool declines to create while throttled
      plan.launch.push({ uuid: ctr.uuid, instanceType: available, fallbackTypes });
      planned++;
      plan.allocatedNotStarted++;
      plan.statuses[ctr.uuid] = newInstanceStatus(available.Name);
    }
  }

  plan.atQuota = atQuota();
  Object.assign(
    plan,
    finishRunQueue(prep, { statuses: plan.statuses, atQuota: plan.atQuota, qpos, overquota, overmaxsuper }),
  );
  return plan;
}

/**
 * §3.3 after the main pass, shared by planQueue and planPool: every waiting container without a
 * status gets its queue position (continuing from `qpos`), and the unlocks: with instances up,
 * the head of the over-quota line keeps its lock so a briefly lifted quota does not burn its
 * lock/unlock cycles; with none, it may exhaust MaxDispatchAttempts and be cancelled rather
 * than starve everything behind it. Writes into `statuses`.
 */
export function finishRunQueue(
  prep: Pick<RunQueuePreparation, "sorted" | "totalInstances" | "held">,
  pass: {
    statuses: Record<string, string>;
    atQuota: boolean;
    qpos: number;
    overquota: readonly QueueEntry[];
    overmaxsuper: readonly QueueEntry[];
  },
): { overQuota: number; unlock: string[] } {
  let qpos = pass.qpos;
  for (const entry of prep.sorted) {
    const { state, uuid } = entry.container;
    const waiting = state === ContainerState.Queued || state === ContainerState.Locked;
    if (waiting && pass.statuses[uuid] === undefined) {
      qpos++;
      pass.statuses[uuid] = queuePositionStatus(qpos, pass.atQuota);
    }
  }
  const { overquota, overmaxsuper } = pass;
  const giveBack = [
    ...overmaxsuper,
    ...(prep.totalInstances > 0 && overquota.length > 1 ? overquota.slice(1) : overquota),
  ];
  return {
    overQuota: overquota.length + overmaxsuper.length,
    unlock: giveBack
      .filter((e) => e.container.state === ContainerState.Locked && !prep.held.has(e.container.uuid))
      .map((e) => e.container.uuid),
  };
}
