import type { Queue, UpdateReport } from "./queue.js";
import { UpdateLeaseHeldError } from "./queue.js";
import type { QueueEntry } from "../model/entry.js";

/** Whether any entry still needs attention: Queued, Locked or Running. */
export function queueHasWork(entries: readonly QueueEntry[]): boolean {
  return entries.some((e) => e.container.state === "Queued" || e.container.state === "Locked" || e.container.state === "Running");
}

export interface UpdateLoopOptions {
  queue: Pick<Queue, "update" | "releaseUpdateLease">;
  /** Containers.CloudVMs.PollInterval in ms. */
  pollIntervalMs: number;
  /** The invocation's remaining time (Lambda `context.getRemainingTimeInMillis`). */
  remainingMs: () => number;
  /** Stop looping when less than this would remain after the next wait and update. */
  marginMs: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  onUpdate?: (report: UpdateReport, elapsedMs: number) => void;
}

/** How one invocation of update-queue ended. */
export interface UpdateLoopResult {
  updates: number;
  /** True when another invocation held the lease, so this one did nothing. */
  leaseHeld: boolean;
}

/** Clock skew allowance on a lease bounded by the invocation's remaining time. */
const leaseSlackMs = 2_000;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs updates for the length of one scheduled invocation: one update always, then another
 * every poll interval while the queue has work and the time budget allows, so a new container
 * waits about one PollInterval rather than a whole schedule tick. An idle queue gets one poll
 * per tick. Like upstream (§3.2), a slow server is polled no faster than it answers: the wait is
 * max(elapsed, PollInterval). An update error ends the loop and is rethrown; the lease is always
 * released.
 */
export async function runUpdateLoop(options: UpdateLoopOptions): Promise<UpdateLoopResult> {
  const sleep = options.sleep ?? defaultSleep;
  const now = options.now ?? Date.now;
  let updates = 0;
  try {
    for (;;) {
      const started = now();
      let report: UpdateReport;
      try {
        // The lease cannot outlive this invocation: if it is killed, the next one waits no longer.
        report = await options.queue.update(options.remainingMs() + leaseSlackMs);
      } catch (err) {
        if (err instanceof UpdateLeaseHeldError && updates === 0) return { updates, leaseHeld: true };
        throw err;
      }
      updates++;
      const elapsed = now() - started;
      options.onUpdate?.(report, elapsed);
      const wait = Math.max(elapsed, options.pollIntervalMs);
      // Room for the wait plus one more update as long as the last one, plus the margin.
      if (!queueHasWork(report.entries) || options.remainingMs() < wait + elapsed + options.marginMs) {
        return { updates, leaseHeld: false };
      }
      await sleep(wait);
    }
  } finally {
    await options.queue.releaseUpdateLease().catch(() => undefined);
  }
}
