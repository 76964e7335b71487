import type { QueueEntry } from "../model/entry.js";
import type { InstanceView } from "../model/instance.js";
import { errorCode } from "../observability/error-code.js";
import { assignInstanceTypes } from "../queue/assign-types.js";
import { countEntriesByStateAndType, type EntryCount } from "../queue/entry-counts.js";
import { refreshCapacity } from "../scheduler/capacity.js";
import { countsTowardQuota, currentLaunch } from "../scheduler/instances.js";
import { planReconcile, type ReconcilePlan } from "../scheduler/plan-reconcile.js";
import type { CleanupDeps } from "./ports.js";
import { planIdleWorkers } from "./idle-workers.js";
import { poolTimeouts } from "../config/pool-timeouts.js";
import type { WorkerIdlePlan } from "../scheduler/worker-idle.js";
import { addNamedFinished, type CleanupCache, readCleanupCache, verifyPlan } from "./live-entries.js";

/** What one cleanup pass did, counted by reason (low-cardinality metric dimensions). */
export interface CleanupReport {
  forgotten: number;
  /** Entries whose type choice was retried here because the stream path gave up on them. */
  typesRetried: number;
  cancelled: Record<string, number>;
  requeued: Record<string, number>;
  terminated: Record<string, number>;
  /** Containers stopped on pool workers through the channel, by reason (issue #18). */
  killed: Record<string, number>;
  orphans: number;
  /** Instances of our instance set that this dispatcher did not launch: left alone (ReconcilePlan.foreign). */
  foreign: string[];
  /** §4.3 ec2_instances{subnet_id}: instances EC2 lists, not yet terminated, by subnet ("" when unknown). */
  instancesBySubnet: Record<string, number>;
  /** Instances on hold a rule would have terminated, with its reason: left alone (ReconcilePlan.held). */
  held: { instanceId: string; reason: string }[];
  failures: number;
  /** Each failed action, with the error's code (EC2 code, HTTP status or error name). */
  failureDetails: { action: string; target: string; error: string }[];
  /**
   * §1.10 queue entries by state and cheapest type, as this pass read them: counted here because
   * cleanup reads every entry each minute anyway, and update-queue reads only the queue index.
   */
  entryCounts: EntryCount[];
}

function bump(counts: Record<string, number>, reason: string): void {
  counts[reason] = (counts[reason] ?? 0) + 1;
}

/** Counts a failed action and keeps what an operator needs: the action, its target, the error code. */
function recordFailure(report: CleanupReport, action: string, target: string, err: unknown): void {
  report.failures++;
  report.failureDetails.push({ action, target, error: errorCode(err) });
}

/**
 * One cleanup pass: §3.4 sync with EC2 instances in place of workers. Reads the queue and its
 * threshold first, then lists our instances, so every "instance is gone" judgement is compared
 * against cached states at least as fresh as the threshold. Then forgets, cancels, requeues and
 * terminates as planReconcile decides, asks Arvados about instances whose container is not in
 * the queue, and re-derives the shared quota state from the listing so drift cannot build up.
 *
 * `interrupted` lists instances EC2 announced it will reclaim (spot interruption): they are
 * terminated now, and their containers requeued (Locked) or cancelled (Running) at once rather
 * than after the next poll; that is safe because this pass itself ends the instance.
 */
export async function runCleanupPass(deps: CleanupDeps, interrupted: readonly string[] = []): Promise<CleanupReport> {
  const now = deps.now ?? Date.now;
  const report: CleanupReport = {
    forgotten: 0,
    typesRetried: 0,
    cancelled: {},
    requeued: {},
    terminated: {},
    killed: {},
    orphans: 0,
    foreign: [],
    instancesBySubnet: {},
    held: [],
    failures: 0,
    failureDetails: [],
    entryCounts: [],
  };
  const live = deps.live;
  const cache = live === undefined ? undefined : await readCleanupCache(live);
  const { entries, threshold } = cache ?? (await deps.queue.entries());
  let instances = await deps.cloud.list();
  if (live !== undefined && cache !== undefined) await addNamedFinished(live, cache, instances);
  report.entryCounts = countEntriesByStateAndType([...entries.values(), ...finishedOnly(cache, entries)]);
  const entryList = [...entries.values()];

  if (interrupted.length > 0) {
    instances = await handleInterruptions(deps, entryList, instances, interrupted, report);
  }

  const planned = planReconcile({
    entries: entryList,
    instances,
    threshold: threshold?.getTime() ?? 0,
    now: now(),
    config: deps.config,
  });
  // The index's copies are eventually consistent: act only on entries read again as they were.
  const plan =
    live === undefined || cache === undefined ? planned : await verifyPlan(live, planned, entries, instances);
  // The finished entries the index holds are forgotten by uuid (the delete checks the state).
  const forget = new Set([...plan.forget, ...(cache?.finished.map((f) => f.uuid) ?? [])]);

  report.foreign = plan.foreign;
  for (const inst of instances) if (inst.state !== "terminated") bump(report.instancesBySubnet, inst.subnetId ?? "");
  report.held = plan.held;
  const attempt = async (action: string, target: string, run: () => Promise<unknown>): Promise<boolean> => {
    try {
      await run();
      return true;
    } catch (err) {
      recordFailure(report, action, target, err);
      return false;
    }
  };

  const terminate = new Map(plan.terminate.map((t) => [t.instanceId, t.reason] as const));
  for (const orphan of plan.verifyOrphan) {
    await attempt("verify orphan", orphan.instanceId, async () => {
      if ((await deps.queue.heldLock(orphan.containerUuid)) === undefined) {
        report.orphans++;
        terminate.set(orphan.instanceId, orphan.reason);
      }
    });
  }
  // The TimeoutIdle backstop: pool workers whose agent should have powered them off by now.
  const idle = await backstop(deps, entryList, instances, now(), report, attempt);
  for (const t of idle?.terminate ?? []) if (!terminate.has(t.instanceId)) terminate.set(t.instanceId, t.reason);
  const doomed = [...terminate.keys()];
  if (doomed.length > 0 && (await attempt("terminate", doomed.join(","), () => deps.cloud.terminate(doomed)))) {
    for (const reason of terminate.values()) bump(report.terminated, reason);
  }
  // Pool workers: one kill order per worker for its containers to stop; its others run on.
  const kills = new Map<string, ReconcilePlan["kill"]>();
  for (const k of plan.kill) kills.set(k.instanceId, [...(kills.get(k.instanceId) ?? []), k]);
  for (const [instanceId, orders] of kills) {
    const channel = deps.channel;
    if (channel === undefined) {
      recordFailure(report, "kill", instanceId, new Error("no worker channel"));
      continue;
    }
    if (await attempt("kill", instanceId, () => channel.kill(instanceId, orders)))
      for (const o of orders) bump(report.killed, o.reason);
  }
  if (idle !== undefined && idle.changes.set.length + idle.changes.remove.length > 0) {
    const table = deps.workerIdle;
    if (table !== undefined) await attempt("idle records", "#workers", () => table.updateIdleSince(idle.changes));
  }
  for (const uuid of forget) if (await attempt("forget", uuid, () => deps.queue.forget(uuid))) report.forgotten++;
  for (const { uuid, reason } of plan.cancel) {
    await attempt("cancel", uuid, async () => {
      if (await cancelIfStillRunning(deps, uuid)) bump(report.cancelled, reason);
    });
  }
  for (const { uuid, reason } of plan.unlock) {
    if (await attempt("requeue", uuid, () => requeue(deps, uuid, entries.get(uuid)?.launch?.instanceId)))
      bump(report.requeued, reason);
  }

  for (const entry of untypedAfterGrace(entryList, now())) {
    const uuid = entry.container.uuid;
    if (await attempt("choose types", uuid, () => assignInstanceTypes(uuid, deps))) report.typesRetried++;
  }

  const count = instances.filter(countsTowardQuota).length;
  await deps.state.modify((s) => ({ next: refreshCapacity(s, count, now()), result: undefined }));
  return report;
}

/** The backstop's plan, its held workers reported; undefined without records or pool workers, or when they could not be read. */
async function backstop(
  deps: CleanupDeps,
  entries: readonly QueueEntry[],
  instances: readonly InstanceView[],
  nowMs: number,
  report: CleanupReport,
  attempt: (action: string, target: string, run: () => Promise<unknown>) => Promise<boolean>,
): Promise<WorkerIdlePlan | undefined> {
  const table = deps.workerIdle;
  if (table === undefined) return undefined;
  let plan: WorkerIdlePlan | undefined;
  await attempt("idle records", "#workers", async () => {
    plan = await planIdleWorkers({
      table,
      entries,
      instances,
      instanceTypes: deps.config.InstanceTypes,
      now: nowMs,
      timeoutIdleMs: poolTimeouts(deps.config).timeoutIdleMs,
    });
  });
  for (const h of plan?.held ?? []) report.held.push(h);
  return plan;
}

/**
 * The finished containers the queue index holds and the pass did not read whole, as entries of
 * their state alone, for the QueueEntries metric (no type: counted under `none`).
 */
function finishedOnly(
  cache: CleanupCache | undefined,
  entries: ReadonlyMap<string, QueueEntry>,
): { container: { state: QueueEntry["container"]["state"] } }[] {
  return (cache?.finished ?? []).filter((f) => !entries.has(f.uuid)).map((f) => ({ container: { state: f.state } }));
}

/** How long choose-instance-types has to handle a new entry before cleanup retries it. */
export const typeChoiceGraceMs = 2 * 60_000;
const typeRetriesPerPass = 20;

/**
 * Entries still without instance types well after they were inserted: their stream record was
 * given up on (Arvados down through every retry, say). Upstream retries such a container on the
 * next update because it never entered the cache; here it did, so cleanup retries instead.
 */
function untypedAfterGrace(entries: readonly QueueEntry[], nowMs: number): QueueEntry[] {
  return entries
    .filter(
      (e) =>
        e.instanceTypes === undefined &&
        (e.container.state === "Queued" || e.container.state === "Locked" || e.container.state === "Running") &&
        nowMs - Date.parse(e.firstSeenAt) > typeChoiceGraceMs,
    )
    .slice(0, typeRetriesPerPass);
}

/**
 * Cancels a container the cache says is Running only if Arvados still says so. The API lets a
 * Complete container become Cancelled (§5.3), and our evidence that its instance ended before
 * the threshold can be an estimate (an instance EC2 no longer lists); this check keeps a
 * container that finished meanwhile Complete. The next update brings the cache up to date.
 */
async function cancelIfStillRunning(deps: CleanupDeps, uuid: string): Promise<boolean> {
  const current = await deps.api.getContainer(uuid, ["uuid", "state"]);
  if (current.state !== "Running") return false;
  await deps.queue.cancel(uuid);
  return true;
}

/** Unlock a container and forget its dead launch, so the next launch pass can retry it. */
async function requeue(deps: CleanupDeps, uuid: string, instanceId: string | undefined): Promise<void> {
  await deps.queue.unlock(uuid);
  if (instanceId !== undefined) await deps.store.clearLaunch(uuid, instanceId);
}

/** Spot interruption: end the doomed instances now and act on their containers at once. */
async function handleInterruptions(
  deps: CleanupDeps,
  entries: readonly QueueEntry[],
  instances: InstanceView[],
  interrupted: readonly string[],
  report: CleanupReport,
): Promise<InstanceView[]> {
  // Only instances this dispatcher launched (a container tag, or a launch record): never another
  // dispatcher's, even doomed. A launch record is enough: EC2 may not list a new instance yet.
  const launched = new Set(entries.map((e) => e.launch?.instanceId));
  const ours = (id: string) =>
    launched.has(id) || instances.some((i) => i.instanceId === id && i.containerUuid !== undefined);
  const doomed = new Set(interrupted.filter(ours));
  if (doomed.size === 0) return instances;
  await deps.cloud.terminate([...doomed]);
  for (const _ of doomed) bump(report.terminated, "spot interruption");
  for (const entry of entries) {
    const launch = currentLaunch(entry);
    const tagged = instances.find((i) => i.containerUuid === entry.container.uuid && doomed.has(i.instanceId));
    if (!(launch !== undefined && doomed.has(launch.instanceId)) && tagged === undefined) continue;
    const uuid = entry.container.uuid;
    try {
      // A cached Locked may be Running in Arvados already (crunch-run started it after the last
      // poll): ask, so a started container is cancelled now rather than unlocked (a 422).
      const state =
        entry.container.state === "Locked" ? (await deps.queue.heldLock(uuid))?.state : entry.container.state;
      if (state === "Locked") {
        await requeue(deps, uuid, launch?.instanceId);
        bump(report.requeued, "spot interruption");
      } else if (state === "Running") {
        if (await cancelIfStillRunning(deps, uuid)) bump(report.cancelled, "spot interruption");
      }
    } catch (err) {
      recordFailure(report, "spot interruption", uuid, err);
    }
  }
  return instances.map((i) => (doomed.has(i.instanceId) ? { ...i, state: "shutting-down" as const } : i));
}
