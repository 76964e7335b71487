import type { QueueEntry } from "../model/entry.js";
import type { InstanceView } from "../model/instance.js";
import { isAtQuota, refreshCapacity } from "../scheduler/capacity.js";
import { countsTowardQuota, currentLaunch, isLive } from "../scheduler/instances.js";
import { nextMaxContainers, withConfigLimits } from "../scheduler/max-containers.js";
import { type LaunchDecision, planQueue } from "../scheduler/plan-queue.js";
import type { DispatchState } from "../model/dispatch-state.js";
import { failure, type LaunchEvent, launchContainer, type RepeatOutcome, type Stop } from "./launch-container.js";
import type { LaunchDeps } from "./ports.js";
import { runInstancesBucket } from "../model/launch-bucket.js";
import type { WakeReason } from "../model/ticks.js";
import { storeStatuses } from "./statuses.js";
import type { PoolDeps } from "./ports.js";
import { planPool } from "../scheduler/plan-pool.js";
import { deriveWorkers } from "../scheduler/workers.js";
import { workPoolPlan } from "./pool-work.js";
import { removeStaleOrders } from "./pool-orders.js";
import { readLiveEntries } from "./live-entries.js";

/** What one pass keeps across its plans: the entries passes wrote lately (LaunchWrites), its own included. */
interface PassWrites {
  recent: Record<string, number>;
  touch: (uuid: string) => void;
}

/**
 * A pass that still has work after this long plans again from fresh entries: during a backlog
 * launches are paced at 2 a second, so a whole invocation would otherwise follow one plan while
 * priorities change and new containers arrive (upstream re-plans on every queue change).
 */
export const replanAfterMs = 10_000;

/**
 * §4.1 notifies the scheduler when a throttle, quota or capacity window expires. A pass never
 * waits for one (that wait would be billed): it asks to be woken when the window ends
 * (`LaunchReport.wake`, sent as a delayed message by the handler), and the same for a backlog
 * it had no time left for or a RunInstances token it would have had to wait for.
 */
export type { WakeReason } from "../model/ticks.js";

/** What one pass did, for metrics and logs. */
export interface LaunchReport {
  /** False when another invocation was already planning; nothing was done. */
  ran: boolean;
  locked: number;
  launched: { uuid: string; instanceType: string; queuedMs: number }[];
  unlocked: number;
  failures: number;
  /** Each failure with what the operator needs to act on it (the EC2 or Arvados error code). */
  failureDetails: { uuid: string; step: "lock" | "launch" | "unlock"; error: string }[];
  /**
   * Each open launch intent whose call was repeated, with what EC2's answer showed, and whether
   * its type is still in the config (a repeat uses the entry's copy of the type either way).
   */
  repeats: { uuid: string; instanceType: string; outcome: RepeatOutcome; typeConfigured: boolean }[];
  capacityErrors: number;
  quotaErrors: number;
  throttleErrors: number;
  /** §3.7 containers_longest_wait_time_seconds: oldest Queued/Locked container with priority > 0 not yet running. */
  oldestQueuedAgeSeconds: number;
  /** §3.7 containers_allocated_not_started, from the last plan: Locked ones holding or getting an instance. */
  allocatedNotStarted: number;
  /** §3.7 containers_not_allocated_over_quota, from the last plan. */
  overQuota: number;
  /** §3.7 at_quota, after the last plan. */
  atQuota: boolean;
  /** §4.3 ec2_instance_starts_total: each RunInstances call's subnet ("" with none configured) and success. */
  instanceStarts: { subnetId: string; success: boolean }[];
  /** Entries whose stored scheduling status this pass changed (a steady queue: 0). */
  statusesWritten: number;
  /** Status writes that failed, with their error codes; they never fail the pass. */
  statusWriteErrors: string[];
  /** Pool mode: stale order tags removed from workers (lib/scheduler/stale-orders.ts). */
  ordersRemoved: number;
  /** Pool mode: error codes of DeleteTags calls that failed; they never fail the pass. */
  unassignErrors: string[];
  /** How many locks and launches the last plan asked for. */
  planned: number;
  /** Plans made (a long pass plans again every replanMs). */
  plans: number;
  /**
   * When the next pass should run, and why: the end of the throttle, quota or capacity window
   * that stopped this one (§4.1), or at once for a backlog left undone. Absent: nothing waits
   * that a stream record or the one-minute sweep would not bring back.
   */
  wake?: { atMs: number; reason: WakeReason };
  /** What held the pass back, so a pass that does nothing with a backlog says why. */
  limits: PassLimits;
}

/** The shared limits a pass planned under. */
export interface PassLimits {
  /** The dynamic concurrency limit (§3.3: held low for a minute after an Arvados 503). */
  maxContainers: number;
  /** Time left of a quota stop (§4.1), 0 if none; a stop until instances go away counts as 1. */
  atQuotaForMs: number;
  /** Time left of the RunInstances throttle backoff (§4.3), 0 if none. */
  throttledForMs: number;
  /** Instance types (and spot variants) waiting out a capacity error. */
  typesAtCapacity: number;
}

/** Clock skew allowance on leases bounded by an invocation's remaining time. */
const leaseSlackMs = 2_000;
/**
 * A pass that finds another planning asks to run again this much later: a stream-triggered pass
 * must not drop its records' news, but the other pass may have planned before they arrived.
 * The pass lease lasts no longer than its invocation can live, so a crashed pass (Lambda kills
 * it at its timeout) blocks the next one for at most that long.
 */
const passLeaseRetryMs = 2_000;

/**
 * One launch pass (§3.3 runQueue with effects): plan from the cached entries, our instances and
 * the shared capacity state, then lock and launch in plan order, one RunInstances per container
 * lock, paced by the shared token bucket; a call whose outcome is unknown (its launch intent
 * is still open) is repeated exactly, never replaced by another. A capacity error on a type falls through to the
 * entry's next eligible type; quota and throttle errors end the pass. Only one pass runs at a
 * time per deployment, so MaxInstances holds exactly. `remainingMs` bounds the work.
 */
export async function runLaunchPass(
  deps: LaunchDeps,
  remainingMs: () => number,
  marginMs = 5_000,
): Promise<LaunchReport> {
  const now = deps.now ?? Date.now;
  const report: LaunchReport = {
    ran: false,
    locked: 0,
    launched: [],
    unlocked: 0,
    failures: 0,
    failureDetails: [],
    repeats: [],
    capacityErrors: 0,
    quotaErrors: 0,
    throttleErrors: 0,
    oldestQueuedAgeSeconds: 0,
    allocatedNotStarted: 0,
    overQuota: 0,
    atQuota: false,
    instanceStarts: [],
    statusesWritten: 0,
    statusWriteErrors: [],
    ordersRemoved: 0,
    unassignErrors: [],
    planned: 0,
    plans: 0,
    limits: { maxContainers: 0, atQuotaForMs: 0, throttledForMs: 0, typesAtCapacity: 0 },
  };
  if (!(await deps.store.acquireLaunchPassLease(deps.owner, now(), remainingMs() + leaseSlackMs))) {
    // Another pass is planning, perhaps from entries older than this invocation's news: run
    // again once it is likely done, rather than wait for its lease here (billed).
    report.wake = { atMs: now() + passLeaseRetryMs, reason: "backlog" };
    return report;
  }
  report.ran = true;
  const writes: PassWrites = {
    recent: {},
    touch: (uuid) => {
      writes.recent[uuid] = now();
    },
  };
  try {
    // Plan, work, and plan again while there is work, time, and no stop from the cloud.
    while ((await planAndWork(deps, report, remainingMs, marginMs, now, writes)) === "replan");
    return report;
  } finally {
    // With the live view, the release also keeps what passes wrote lately (one write either way).
    const release =
      deps.live === undefined
        ? deps.store.releaseLaunchPassLease(deps.owner)
        : deps.live.writes.release(deps.owner, writes.recent);
    await release.catch(() => undefined);
  }
}

/**
 * One plan and the work it asks for, in plan order. Returns "replan" when the plan has grown
 * older than replanMs with work left; "done" when the work ran out, the time budget did, or
 * the cloud said to stop (quota, throttle).
 */
async function planAndWork(
  deps: LaunchDeps,
  report: LaunchReport,
  remainingMs: () => number,
  marginMs: number,
  now: () => number,
  writes: PassWrites,
): Promise<"replan" | "done"> {
  const plannedAt = now();
  const readEntries = async () => {
    if (deps.live === undefined) return (await deps.queue.entries()).entries;
    const live = await readLiveEntries(deps.live, now());
    writes.recent = { ...live.recent, ...writes.recent };
    return live.entries;
  };
  const [entries, instances] = await Promise.all([readEntries(), deps.cloud.list()]);
  const entryList = [...entries.values()];
  const liveCount = instances.filter(countsTowardQuota).length;
  const state = await deps.state.modify((stored) => {
    const t = now();
    const s = withConfigLimits(stored, deps.config);
    const capacity = refreshCapacity(s, liveCount, t);
    const running = entryList.filter((e) => hasLiveInstance(e, instances)).length;
    const max = nextMaxContainers(s, {
      // §3.3: this invocation's own 503s and those the other functions shared.
      last503: Math.max(deps.queue.lastApi503()?.getTime() ?? 0, s.lastApi503 ?? 0) || undefined,
      running,
      now: t,
      // §3.3: at quota, the workload is the maximum and the quota's known size.
      atQuota: isAtQuota(capacity, liveCount, deps.config.Containers.CloudVMs.MaxInstances, t),
      totalInstances: liveCount,
      instancesWithinQuota: s.instancesWithinQuota,
      config: deps.config,
    });
    const next: DispatchState = { ...capacity, ...max };
    return { next, result: next };
  });
  if (deps.pool !== undefined) {
    return poolPass(deps, deps.pool, report, entries, entryList, instances, state, remainingMs, marginMs, now, writes);
  }
  const plan = planQueue({
    entries: entryList,
    instances,
    capacity: state,
    config: deps.config,
    now: now(),
    maxContainers: state.maxContainers,
  });
  report.plans++;
  report.allocatedNotStarted = plan.allocatedNotStarted;
  report.overQuota = plan.overQuota;
  report.atQuota = plan.atQuota;
  report.oldestQueuedAgeSeconds = oldestQueuedAgeSeconds(entryList, instances, now());
  report.limits = passLimits(state, now());

  // §3.3 sort: Locked containers (launches) come before Queued ones (locks), each in priority order.
  const work: { decision: LaunchDecision; lock: boolean }[] = [
    ...plan.launch.map((decision) => ({ decision, lock: false })),
    ...plan.lock.map((decision) => ({ decision, lock: true })),
  ];
  report.planned = work.length;

  // Alongside the work, so a status shows while a backlog is worked through (launches are paced
  // at 2 a second) and never waits for, or delays, a launch; the dispatch API reads them.
  const statusWrites = storeStatuses(deps.store, entries, plan.statuses, () => remainingMs() >= marginMs);

  let outcome: "replan" | "done" = "done";
  let stoppedBy: Stop | undefined;
  let liveInstances = liveCount;
  for (const [i, { decision, lock }] of work.entries()) {
    if (remainingMs() < marginMs) break;
    const entry = entries.get(decision.uuid);
    if (entry === undefined) continue;
    writes.touch(decision.uuid);
    const stop = await launchContainer(deps, {
      entry,
      decision,
      lock,
      liveInstances: () => liveInstances,
      record: (event) => addToReport(report, event),
    });
    if (stop === "launched") liveInstances++;
    else if (stop !== undefined) {
      stoppedBy = stop;
      break;
    }
    // Checked after each container, so every plan gets at least one done.
    if (i < work.length - 1 && now() - plannedAt >= (deps.replanMs ?? replanAfterMs)) {
      outcome = "replan";
      break;
    }
  }
  for (const uuid of plan.unlock) writes.touch(uuid);
  await finishPlan(deps, report, plan.unlock, statusWrites);
  if (outcome === "done") {
    const leftOver = work.length > 0 && remainingMs() < marginMs;
    const { value } = await deps.state.read();
    report.wake = wakeAfterPass({
      stoppedBy,
      leftOver,
      capacityBlocked: plan.capacityBlocked,
      state: value,
      now: now(),
    });
  }
  return outcome;
}

/**
 * One pool-mode plan and its work (issue #18): workers derived from the listing and the entries,
 * planPool (§3.3 with workers), then workPoolPlan. A pool pass does its whole plan (one
 * RunInstances per batch, so a burst takes a few calls) and never re-plans within itself.
 */
async function poolPass(
  deps: LaunchDeps,
  pool: PoolDeps,
  report: LaunchReport,
  entries: Map<string, QueueEntry>,
  entryList: QueueEntry[],
  instances: InstanceView[],
  state: DispatchState,
  remainingMs: () => number,
  marginMs: number,
  now: () => number,
  writes: PassWrites,
): Promise<"done"> {
  // Stale order tags first, so the tag room they free counts for this pass's assignments.
  const unassigned = await removeStaleOrders(pool, entryList, instances, () => remainingMs() >= marginMs);
  report.ordersRemoved += unassigned.removed;
  report.unassignErrors.push(...unassigned.errors);
  // Cleanup's idle sightings (one read): a worker about to power off is given nothing new.
  const idleSince = pool.idle === undefined ? {} : await pool.idle.idleSince();
  const workers = deriveWorkers({
    instances: unassigned.instances,
    entries: entryList,
    instanceTypes: deps.config.InstanceTypes,
    idleSince,
  });
  const plan = planPool({
    entries: entryList,
    instances,
    workers,
    capacity: state,
    config: deps.config,
    settings: pool.settings,
    now: now(),
    maxContainers: state.maxContainers,
  });
  report.plans++;
  report.allocatedNotStarted = plan.allocatedNotStarted;
  report.overQuota = plan.overQuota;
  report.atQuota = plan.atQuota;
  report.oldestQueuedAgeSeconds = oldestQueuedAgeSeconds(entryList, instances, now());
  report.limits = passLimits(state, now());
  report.planned = plan.lock.length + plan.assign.length + plan.newInstances + plan.repeat.length;
  const statusWrites = storeStatuses(deps.store, entries, plan.statuses, () => remainingMs() >= marginMs);
  for (const uuid of [
    ...plan.lock,
    ...plan.assign.map((a) => a.uuid),
    ...plan.create.flatMap((g) => g.instances.flat()),
    ...plan.repeat.flatMap((g) => g.uuids),
    ...plan.unlock,
  ])
    writes.touch(uuid);
  let live = instances.filter(countsTowardQuota).length;
  const { stop, started } = await workPoolPlan(
    deps,
    pool,
    plan,
    entries,
    (event) => addToReport(report, event),
    () => live,
    () => remainingMs() >= marginMs,
  );
  live += started;
  await finishPlan(deps, report, plan.unlock, statusWrites);
  const { value } = await deps.state.read();
  report.wake = wakeAfterPass({
    stoppedBy: stop,
    leftOver: stop === "budget",
    capacityBlocked: plan.capacityBlocked,
    state: value,
    now: now(),
  });
  return "done";
}

/** The end of every plan's work: §3.3's unlocks, then the scheduling statuses written meanwhile. */
async function finishPlan(
  deps: LaunchDeps,
  report: LaunchReport,
  unlock: readonly string[],
  statusWrites: ReturnType<typeof storeStatuses>,
): Promise<void> {
  for (const uuid of unlock) {
    try {
      await deps.queue.unlock(uuid);
      report.unlocked++;
    } catch (err) {
      addToReport(report, failure(uuid, "unlock", err));
    }
  }
  const writes = await statusWrites;
  report.statusesWritten += writes.written;
  report.statusWriteErrors.push(...writes.errorCodes);
}

/**
 * When a pass that ended should be followed by another (§4.1: an expiring window wakes the
 * scheduler). Pure.
 */
export function wakeAfterPass(input: {
  stoppedBy: Stop | undefined;
  /** Work was planned but the time budget ran out. */
  leftOver: boolean;
  /** Containers the plan left waiting only for capacity (QueuePlan.capacityBlocked). */
  capacityBlocked: number;
  state: DispatchState;
  now: number;
}): { atMs: number; reason: WakeReason } | undefined {
  const { state, now } = input;
  if (input.stoppedBy === "throttle") {
    // EC2's backoff if it throttled us; else our own RunInstances bucket (burst 4, 2 a second),
    // once full again: the next pass then launches a burst, at EC2's pace all the same, and a
    // backlog costs one pass per burst rather than one per token.
    const bucketFullMs = (1000 * runInstancesBucket.capacity) / runInstancesBucket.refillPerSecond;
    const ec2Backoff = state.throttledUntil !== undefined && state.throttledUntil > now;
    return { atMs: ec2Backoff ? (state.throttledUntil ?? now) : now + bucketFullMs, reason: "throttle" };
  }
  if (input.stoppedBy === "quota") {
    // A stop until instances go away ends with a change cleanup or the stream reports, not a time.
    return state.atQuotaUntil !== undefined && state.atQuotaUntil > now
      ? { atMs: state.atQuotaUntil, reason: "quota" }
      : undefined;
  }
  if (input.leftOver || input.stoppedBy === "budget") return { atMs: now, reason: "backlog" };
  const capacityEnds = Object.values(state.atCapacityUntil).filter((until) => until > now);
  if (input.capacityBlocked > 0 && capacityEnds.length > 0)
    return { atMs: Math.min(...capacityEnds), reason: "capacity" };
  return undefined;
}

/** Folds one step of a container's launch into the pass's report. */
function addToReport(report: LaunchReport, event: LaunchEvent): void {
  switch (event.kind) {
    case "locked":
      report.locked++;
      return;
    case "unlocked":
      report.unlocked++;
      return;
    case "launched":
      report.launched.push({ uuid: event.uuid, instanceType: event.instanceType, queuedMs: event.queuedMs });
      return;
    case "failed":
      report.failures++;
      report.failureDetails.push({ uuid: event.uuid, step: event.step, error: event.error });
      return;
    case "cloud-refused":
      if (event.reason === "capacity") report.capacityErrors++;
      else if (event.reason === "quota") report.quotaErrors++;
      else report.throttleErrors++;
      return;
    case "repeated":
      report.repeats.push({
        uuid: event.uuid,
        instanceType: event.instanceType,
        outcome: event.outcome,
        typeConfigured: event.typeConfigured,
      });
      return;
    case "start":
      report.instanceStarts.push({ subnetId: event.subnetId, success: event.success });
      return;
  }
}

function passLimits(state: DispatchState, nowMs: number): PassLimits {
  const left = (until: number | undefined) => (until === undefined ? 0 : Math.max(0, until - nowMs));
  return {
    maxContainers: state.maxContainers,
    atQuotaForMs:
      (state.atQuotaUntilFewerInstances ?? 0) > 0 ? Math.max(1, left(state.atQuotaUntil)) : left(state.atQuotaUntil),
    throttledForMs: left(state.throttledUntil),
    typesAtCapacity: Object.values(state.atCapacityUntil).filter((until) => until > nowMs).length,
  };
}

function hasLiveInstance(entry: QueueEntry, instances: readonly InstanceView[]): boolean {
  const launch = currentLaunch(entry);
  return instances.some(
    (i) =>
      isLive(i) &&
      (i.containerUuid === entry.container.uuid || (launch !== undefined && i.instanceId === launch.instanceId)),
  );
}

/**
 * §3.7 longest wait: now minus the earliest created_at of Queued/Locked entries with priority > 0
 * not running. Upstream's "running" is a worker that started crunch-run; here, an instance EC2
 * says is `running`: a container whose instance is still pending is still waiting.
 */
function oldestQueuedAgeSeconds(
  entries: readonly QueueEntry[],
  instances: readonly InstanceView[],
  nowMs: number,
): number {
  let oldest = nowMs;
  const booted = instances.filter((i) => i.state === "running");
  for (const e of entries) {
    const { state, priority, created_at } = e.container;
    if ((state !== "Queued" && state !== "Locked") || priority === 0n || hasLiveInstance(e, booted)) continue;
    const created = Date.parse(created_at);
    if (Number.isFinite(created) && created < oldest) oldest = created;
  }
  return Math.max(0, Math.round((nowMs - oldest) / 1000));
}
