import type { ClusterConfig } from "../config/types.js";
import { accommodates, subtractResources } from "../instance-types/resources.js";
import { ContainerState } from "../model/container.js";
import type { CapacityState } from "../model/dispatch-state.js";
import type { QueueEntry } from "../model/entry.js";
import { IdleBehavior, type InstanceView } from "../model/instance.js";
import type { InstanceType } from "../model/instance-type.js";
import { type PoolSettings, WorkerState, type WorkerView } from "../model/worker.js";

export type { PoolSettings } from "../model/worker.js";
import { isAtCapacity, isAtQuota } from "./capacity.js";
import { currentIntent, currentLaunch } from "./instances.js";
import { compareWorkers, typeResources } from "./workers.js";
import { finishRunQueue, prepareRunQueue } from "./plan-queue.js";
import {
  instanceTypeAtCapacityStatus,
  newInstanceStatus,
  priorityZeroStatus,
  SchedulingStatus,
  supervisorLimitStatus,
} from "./status.js";

/** EC2's instance launch bucket allows a burst of 1,000 instances (DESIGN "EC2's own limits"). */
const maxInstancesPerCall = 1000;

/** Everything one pool scheduling pass looks at. Plain data; `now` is epoch ms. */
export interface PlanPoolInput {
  entries: readonly QueueEntry[];
  /** Our instance set's instances, as listed now (for holds and the quota count). */
  instances: readonly InstanceView[];
  /** The same instances as workers (deriveWorkers), in upstream's instanceSort order. */
  workers: readonly WorkerView[];
  capacity: CapacityState;
  config: ClusterConfig;
  settings: PoolSettings;
  now: number;
  /** The dynamic concurrency limit; 0 = unlimited. */
  maxContainers: number;
}

/** One container given to an existing worker through the channel (an order tag), after its lock. */
export interface AssignDecision {
  uuid: string;
  instanceId: string;
  /** The worker's configured type Name (recorded with the assignment). */
  instanceType: string;
}

/**
 * A CreateGroup is one batched RunInstances: `instanceType` (which fixes the market: a
 * preemptible type is spot), MinCount 1, MaxCount = `instances.length`; the containers of
 * `instances[i]` go to the instance with AmiLaunchIndex i, through the call's user data: the
 * first is the one the instance was planned for, the others packed onto it later in the pass
 * (§3.3 8.5). The launcher picks the subnet. On a capacity error nothing falls back within the
 * pass: the window is recorded and the next pass plans the next eligible type (§3.3 step 6).
 */
export interface CreateGroup {
  instanceType: InstanceType;
  instances: string[][];
}

/** An open batched intent to send again, exactly: the entries that share its ClientToken. */
export interface RepeatGroup {
  clientToken: string;
  uuids: string[];
}

/** The outcome of one pool pass (§3.3 with workers). */
export interface PoolPlan {
  /** Queued containers to lock; each also appears in `assign` or in one `create` group. */
  lock: string[];
  assign: AssignDecision[];
  create: CreateGroup[];
  repeat: RepeatGroup[];
  unlock: string[];
  statuses: Record<string, string>;
  overQuota: number;
  allocatedNotStarted: number;
  atQuota: boolean;
  capacityBlocked: number;
  /** New instances this pass plans (the sum of the create groups' sizes). */
  newInstances: number;
}

/** A mutable copy of a worker, for reservations within one pass. */
interface Slot {
  view: WorkerView;
  remaining: WorkerView["remaining"];
  containers: number;
  /** An instance this pass plans to create (upstream's blank-ID view): its group and launch index. */
  planned?: { group: CreateGroup; launchIndex: number };
}

/**
 * §3.3 step 5: the existing worker for `entry`, if one qualifies: live (booting, idle or
 * running), a pool worker (a per-container instance has no agent to take orders), IdleBehavior
 * run, under MaxRunningContainersPerInstance, of one of the entry's types, with room (§2.6
 * Accommodates), and, when idle, not known to be about to power off (WorkerView.idleSince). Among those: the first in instanceSort,
 * replaced by one with more containers (pack busy workers), and a booting choice by an idle or
 * running one.
 */
function bestWorker(
  entry: QueueEntry,
  slots: readonly Slot[],
  settings: PoolSettings,
  now: number,
  canPack: (slot: Slot) => boolean,
): Slot | undefined {
  const need = entry.instanceResources;
  if (need === undefined) return undefined;
  const types = new Set(entry.instanceTypes ?? []);
  let best: Slot | undefined;
  for (const slot of slots) {
    const w = slot.view;
    if (w.kind !== "pool" || w.state === WorkerState.shutdown || w.idleBehavior !== IdleBehavior.run) continue;
    if (!canPack(slot)) continue;
    if (settings.maxRunningContainersPerInstance > 0 && slot.containers >= settings.maxRunningContainersPerInstance)
      continue;
    if (!types.has(w.instanceType) || !accommodates(slot.remaining, need)) continue;
    // Each container given by tag takes one of EC2's tags per instance (worker-channel.ts).
    if (w.orderTagRoom !== undefined && slot.containers - w.containers.length >= w.orderTagRoom) continue;
    if (
      w.state === WorkerState.idle &&
      slot.containers === 0 &&
      w.idleSince !== undefined &&
      now - Date.parse(w.lastBusyAt) > settings.timeoutIdleMs - settings.assignMarginMs
    )
      continue;
    const up = (s: Slot) => s.view.state === WorkerState.idle || s.view.state === WorkerState.running;
    if (best === undefined || slot.containers > best.containers || (!up(best) && up(slot))) best = slot;
  }
  return best;
}

/**
 * Plans one runQueue pass (§3.3) over workers: per container in §3.3 order, an eligible idle or
 * booting worker before a new instance; a planned new instance joins the workers, so later
 * containers pack onto it (§3.3 8.5); new instances grouped by type into batched creates;
 * MaxInstances and the quota count instances (listed, unlisted, in flight, planned), not
 * containers; the dynamic limit counts containers as upstream's `trying`. Statuses as upstream.
 * Pure: no I/O, `now` is an input.
 */
export function planPool(input: PlanPoolInput): PoolPlan {
  const { config, capacity, now, settings } = input;
  const cloudVMs = config.Containers.CloudVMs;
  const quotaGroups = cloudVMs.DriverParameters.InstanceTypeQuotaGroups;
  const prep = prepareRunQueue(input);
  const { index, typesOf, held, sorted, totalInstances, unlisted, throttled, maxSupervisors, underLimit } = prep;
  // A batch shares one call, so its in-flight entries count as the one instance each that call may have started.
  const slots: Slot[] = input.workers.map((view) => ({
    view,
    remaining: { ...view.remaining },
    containers: view.containers.length,
  }));
  const slotOf = new Map(slots.map((s) => [s.view.instanceId, s]));
  let planned = 0;
  const atQuota = () => isAtQuota(capacity, totalInstances + unlisted + planned, cloudVMs.MaxInstances, now);
  const compare = compareWorkers(config.InstanceTypes);

  const plan: PoolPlan = {
    lock: [],
    assign: [],
    create: [],
    repeat: [],
    unlock: [],
    statuses: {},
    overQuota: 0,
    allocatedNotStarted: 0,
    atQuota: false,
    capacityBlocked: 0,
    newInstances: 0,
  };
  const groups = new Map<string, CreateGroup>();
  const full: CreateGroup[] = [];
  const repeats = new Map<string, RepeatGroup>();
  // maxBatchSize bounds a call's containers (its user data); EC2's bucket bounds its instances.
  const maxBatch = Math.max(1, Math.min(settings.maxBatchSize ?? maxInstancesPerCall, maxInstancesPerCall));
  const containersIn = new Map<CreateGroup, number>();
  const isFull = (group: CreateGroup) =>
    (containersIn.get(group) ?? 0) >= maxBatch || group.instances.length >= maxInstancesPerCall;
  const canPack = (slot: Slot) => slot.planned === undefined || !isFull(slot.planned.group);
  const create = (entry: QueueEntry, it: InstanceType) => {
    const uuid = entry.container.uuid;
    let group = groups.get(it.Name);
    // A full batch goes out as is; the next containers of the type start another call.
    if (group === undefined || isFull(group)) {
      if (group !== undefined) full.push(group);
      group = { instanceType: it, instances: [] };
    }
    group.instances.push([uuid]);
    containersIn.set(group, (containersIn.get(group) ?? 0) + 1);
    groups.set(it.Name, group);
    planned++;
    plan.allocatedNotStarted++;
    plan.statuses[uuid] = newInstanceStatus(it.Name);
    // §3.3 8.5: the new instance joins the workers, so later containers of the pass can pack onto it.
    const slot: Slot = {
      view: plannedWorker(it, now),
      remaining: typeResources(it),
      containers: 1,
      planned: { group, launchIndex: group.instances.length - 1 },
    };
    if (entry.instanceResources !== undefined)
      slot.remaining = subtractResources(slot.remaining, entry.instanceResources);
    const at = slots.findIndex((s) => compare(slot.view, s.view) < 0);
    slots.splice(at < 0 ? slots.length : at, 0, slot);
  };
  const reserve = (entry: QueueEntry, slot: Slot) => {
    if (entry.instanceResources !== undefined)
      slot.remaining = subtractResources(slot.remaining, entry.instanceResources);
    slot.containers++;
    if (slot.planned !== undefined) {
      slot.planned.group.instances[slot.planned.launchIndex]?.push(entry.container.uuid);
      containersIn.set(slot.planned.group, (containersIn.get(slot.planned.group) ?? 0) + 1);
    } else {
      plan.assign.push({
        uuid: entry.container.uuid,
        instanceId: slot.view.instanceId,
        instanceType: slot.view.instanceType,
      });
    }
    // §3.3 8.2: a worker not up yet means waiting for it to boot; an up one, preparing.
    if (slot.view.state === WorkerState.booting) {
      plan.statuses[entry.container.uuid] = newInstanceStatus(slot.view.instanceType);
      plan.allocatedNotStarted++;
    } else {
      plan.statuses[entry.container.uuid] = SchedulingStatus.preparing;
    }
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
    if (ctr.scheduling_parameters.supervisor) supervisors++;
    if (held.has(ctr.uuid)) {
      if (isWaiting(entry)) {
        const worker = slotOf.get(currentLaunch(entry)?.instanceId ?? "");
        plan.statuses[ctr.uuid] =
          worker?.view.state === WorkerState.booting || worker === undefined
            ? newInstanceStatus(currentLaunch(entry)?.instanceType ?? currentIntent(entry)?.instanceType ?? "")
            : SchedulingStatus.preparing;
      }
      if (ctr.state === ContainerState.Locked) plan.allocatedNotStarted++;
      const intent = currentIntent(entry);
      if (
        !throttled &&
        ctr.state === ContainerState.Locked &&
        currentLaunch(entry) === undefined &&
        intent !== undefined &&
        index.liveFor(entry).length === 0
      ) {
        const group = repeats.get(intent.clientToken) ?? { clientToken: intent.clientToken, uuids: [] };
        group.uuids.push(ctr.uuid);
        repeats.set(intent.clientToken, group);
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
    const best = bestWorker(entry, slots, settings, now, canPack);
    const types = typesOf(entry);
    const [available] = types.filter((it) => !isAtCapacity(capacity, it, quotaGroups, now));

    if (ctr.state === ContainerState.Queued) {
      if (!underLimit(trying)) continue;
      trying++;
      if (best === undefined && atQuota()) {
        overquota = sorted.slice(i);
        break;
      }
      if (best === undefined && available === undefined) {
        plan.capacityBlocked++;
        continue;
      }
      // §3.3 7.5: lock, reserving the worker's room now; the new instance for a Queued container
      // is created in this invocation only once its lock succeeded (the caller's order).
      if (best !== undefined) {
        plan.lock.push(ctr.uuid);
        reserve(entry, best);
      } else if (available !== undefined && !throttled) {
        plan.lock.push(ctr.uuid);
        create(entry, available);
      }
    } else if (ctr.state === ContainerState.Locked) {
      if (!underLimit(trying)) continue;
      trying++;
      if (best !== undefined) {
        reserve(entry, best);
        continue;
      }
      if (atQuota()) {
        overquota = sorted.slice(i);
        break;
      }
      if (available === undefined) {
        qpos++;
        plan.capacityBlocked++;
        plan.statuses[ctr.uuid] = instanceTypeAtCapacityStatus(
          qpos,
          types.map((it) => it.Name),
        );
        continue;
      }
      if (throttled) continue;
      create(entry, available);
    }
  }

  plan.create = [...full, ...groups.values()];
  plan.repeat = [...repeats.values()];
  plan.newInstances = planned;
  plan.atQuota = atQuota();
  Object.assign(
    plan,
    finishRunQueue(prep, { statuses: plan.statuses, atQuota: plan.atQuota, qpos, overquota, overmaxsuper }),
  );
  return plan;
}

/** Upstream's view of an instance being created: booting, blank ID (it sorts first among its equals). */
function plannedWorker(it: InstanceType, now: number): WorkerView {
  const at = new Date(now).toISOString();
  return {
    instanceId: "",
    instanceType: it.Name,
    price: it.Price,
    kind: "pool",
    state: WorkerState.booting,
    idleBehavior: IdleBehavior.run,
    launchTime: at,
    containers: [],
    runningCount: 0,
    remaining: typeResources(it),
    lastBusyAt: at,
  };
}
