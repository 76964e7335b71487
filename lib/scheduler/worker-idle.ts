/**
 * The dispatcher's TimeoutIdle backstop (DESIGN "Workers that outlive containers": "terminate
 * idle workers past TimeoutIdle"). A worker's agent powers it off after TimeoutIdle by itself;
 * this bounds a worker whose agent does not (a hung script, a failing `shutdown`). Cleanup keeps
 * when it first saw each pool worker idle (lib/store/worker-idle.ts) and ends a worker that has
 * stayed idle longer than TimeoutIdle plus one sweep: the agent, which counts from the moment its
 * last container ended (never later than cleanup's sighting), has had TimeoutIdle and a sweep of
 * slack by then.
 */
import { IdleBehavior } from "../model/instance.js";
import { ReconcileReason } from "./plan-reconcile.js";
import { type IdleSinceChanges, type IdleSinceRecords, WorkerState, type WorkerView } from "../model/worker.js";

/** How often cleanup runs (serverless.yml: rate(1 minute)): the slack the backstop gives an agent. */
export const cleanupSweepMs = 60_000;

/** The reason the backstop gives (a metric dimension). */
export const timeoutIdleReason = ReconcileReason.timeoutIdle;

/** Everything the backstop looks at. Plain data; `now` is epoch ms. */
export interface PlanWorkerIdleInput {
  /**
   * Our listed instances as workers, derived *without* idle-since records (deriveWorkers): their
   * `lastBusyAt` is then the evidence of the entries alone (the launch, the latest assignment).
   */
  workers: readonly WorkerView[];
  /** The records as read at the start of the pass. */
  records: IdleSinceRecords;
  now: number;
  timeoutIdleMs: number;
  /** Default: cleanupSweepMs. */
  sweepMs?: number;
}

/** What the backstop decides. */
export interface WorkerIdlePlan {
  changes: IdleSinceChanges;
  /** Pool workers idle past TimeoutIdle plus a sweep. */
  terminate: { instanceId: string; reason: typeof timeoutIdleReason }[];
  /** Those on hold (an operator's): left alone, as every rule leaves a held instance. */
  held: { instanceId: string; reason: typeof timeoutIdleReason }[];
}

/**
 * Plans one sweep of the backstop. Only pool workers (the Worker tag, set at our own launches)
 * are ever recorded or ended: never a per-container instance, never an instance of our instance
 * set that we did not launch. An idle worker gets a record when it has none, or when the entries
 * show it busy after its record (it took a container between two sweeps); a busy or gone
 * worker's record is removed. Only a record read at the start of the pass can end a worker, so
 * a sighting written now is never judged before a launch pass has read it (launch skips a worker
 * whose record is within its margin of TimeoutIdle). Pure.
 */
export function planWorkerIdle(input: PlanWorkerIdleInput): WorkerIdlePlan {
  const { now, records } = input;
  const limit = input.timeoutIdleMs + (input.sweepMs ?? cleanupSweepMs);
  const plan: WorkerIdlePlan = { changes: { set: [], remove: [] }, terminate: [], held: [] };
  const seen = new Set<string>();
  for (const w of input.workers) {
    if (w.kind !== "pool") continue;
    seen.add(w.instanceId);
    const record = records[w.instanceId];
    if (w.state !== WorkerState.idle) {
      if (record !== undefined) plan.changes.remove.push({ instanceId: w.instanceId, value: record });
      continue;
    }
    if (record === undefined || Date.parse(record) < Date.parse(w.lastBusyAt)) {
      plan.changes.set.push({
        instanceId: w.instanceId,
        at: new Date(now).toISOString(),
        ...(record === undefined ? {} : { replaces: record }),
      });
      continue;
    }
    if (now - Date.parse(record) <= limit) continue;
    const decision = { instanceId: w.instanceId, reason: timeoutIdleReason } as const;
    if (w.idleBehavior === IdleBehavior.hold) {
      plan.held.push(decision);
    } else {
      plan.terminate.push(decision);
      // Its record goes with it: the last pool worker gone, no later pass would read the records.
      plan.changes.remove.push({ instanceId: w.instanceId, value: record });
    }
  }
  // Gone: not listed any more (terminated, shutting down), or no longer a pool worker.
  for (const [instanceId, value] of Object.entries(records)) {
    if (!seen.has(instanceId)) plan.changes.remove.push({ instanceId, value });
  }
  return plan;
}
