import type { TickChain, TickSender, UpdateDone } from "../model/ticks.js";
import type { Queue, UpdateReport } from "../queue/queue.js";

/** What one tick works with; the handler builds it once per cold start. */
export interface UpdateTickDeps {
  queue: Pick<Queue, "update" | "releaseUpdateLease" | "leaseOwner">;
  chain: TickChain;
  sender: TickSender;
  /** Containers.CloudVMs.PollInterval in ms. */
  pollIntervalMs: number;
  now?: () => number;
}

/** What woke update-queue: a tick of the chain (with the generation it carries) or the one-minute watchdog. */
export type TickTrigger = { kind: "tick"; generation: number; done?: UpdateDone } | { kind: "watchdog" };

/**
 * How a tick ended. "updated" and "failed" sent the next tick; "leaseHeld" sent it without
 * polling (an update still runs); "stale" was a duplicate or late tick, or a watchdog that found
 * the chain alive ("chainAlive"): nothing sent, nothing polled.
 */
export type TickOutcome =
  | { outcome: "updated"; report: UpdateReport; elapsedMs: number; nextDelayMs: number; restarted: boolean }
  | { outcome: "failed"; error: unknown; nextDelayMs: number; restarted: boolean }
  | { outcome: "leaseHeld" | "stale" | "chainAlive" };

/** Clock skew allowance on a lease bounded by the invocation's remaining time. */
const leaseSlackMs = 2_000;

/**
 * How long a tick's update may write: its lease, which the next tick's claim takes over rather
 * than a closing write releasing it. Short, so that after a lost tick the watchdog's restart
 * does not wait for a whole invocation's lifetime (the chain is due again one lease, one
 * PollInterval and the grace after the claim: 42 s at PollInterval 10 s); two PollIntervals and
 * at least 5 s, so an ordinary update writes all it has, and one that writes a lot (the first)
 * stops at the deadline and goes on at the next tick.
 */
export function updateLeaseMs(pollIntervalMs: number): number {
  return Math.max(5_000, 2 * pollIntervalMs);
}

/**
 * How late past its due time a tick may be before the watchdog restarts the chain: SQS delivers
 * delayed messages a little late, and Lambda's poller adds its own latency.
 */
export function chainGraceMs(pollIntervalMs: number): number {
  return Math.max(5_000, pollIntervalMs);
}

/**
 * One tick of update-queue (DESIGN "Pay for work, not for waiting"): claim the tick's
 * generation on `#queue` with a conditional write that also takes the update lease and closes
 * the update that sent the tick (its threshold travels in the message), poll once (§1.5), and
 * send the next tick, delayed by max(PollInterval, this update's time) as upstream paces its
 * polls (§3.2). No invocation sleeps: between polls nothing is billed, and a tick writes
 * `#queue` once.
 *
 * Of several deliveries of one tick exactly one claims it (the claim moves the generation on),
 * so duplicates and late ticks die out. The one-minute watchdog restarts a chain that is past
 * its due time (a tick lost, or an invocation killed between claim and send) by claiming the
 * current generation itself; the old chain's tick, should it still come, is then stale. The
 * next tick is sent even when the update fails, so one Arvados error never breaks the chain.
 */
export async function runUpdateTick(
  deps: UpdateTickDeps,
  trigger: TickTrigger,
  remainingMs: () => number,
): Promise<TickOutcome> {
  const now = deps.now ?? Date.now;
  const grace = chainGraceMs(deps.pollIntervalMs);
  let generation: number;
  if (trigger.kind === "watchdog") {
    const state = await deps.chain.chain();
    if (state.dueByMs !== undefined && now() <= state.dueByMs) return { outcome: "chainAlive" };
    generation = state.generation;
  } else {
    generation = trigger.generation;
  }
  const done = trigger.kind === "tick" ? trigger.done : undefined;
  const restarted = trigger.kind === "watchdog";
  const owner = deps.queue.leaseOwner;
  const leaseMs = Math.min(remainingMs(), updateLeaseMs(deps.pollIntervalMs)) + leaseSlackMs;
  const claimedAt = now();
  // Until the update ends and sends the next tick, the chain is covered for as long as this invocation can live.
  const claim = await deps.chain.claim({
    generation,
    owner,
    nowMs: claimedAt,
    leaseMs,
    dueByMs: claimedAt + leaseMs + deps.pollIntervalMs + grace,
    ...(done === undefined ? {} : { done }),
  });
  if (claim.claim === "stale") return { outcome: "stale" };
  const next = { kind: "update-tick", generation: generation + 1 } as const;
  if (claim.claim === "claimedLeaseHeld") {
    await deps.sender.send(next, deps.pollIntervalMs);
    return { outcome: "leaseHeld" };
  }
  const started = now();
  const nextDelay = () => Math.max(deps.pollIntervalMs, now() - started);
  let report: UpdateReport;
  let closing: UpdateDone | undefined;
  try {
    report = await deps.queue.update(leaseMs, {
      leaseTaken: true,
      // The lease is not given back by a write: no write may come after it ends.
      writeDeadline: claimedAt + leaseMs - leaseSlackMs,
      // The claim's write returned `#queue`: the update need not read it again for the index.
      indexShards: claim.indexShards ?? 0,
      // No closing write: the next tick's claim writes the threshold (one write a tick, not two).
      finish: async (startedAt, tokenUuid, waiting) => {
        closing = { owner, startedAt, tokenUuid, waiting };
        return true;
      },
    });
  } catch (error) {
    await deps.queue.releaseUpdateLease().catch(() => undefined);
    const nextDelayMs = nextDelay();
    await deps.sender.send(next, nextDelayMs);
    return { outcome: "failed", error, nextDelayMs, restarted };
  }
  const elapsedMs = now() - started;
  const nextDelayMs = nextDelay();
  await deps.sender.send(closing === undefined ? next : { ...next, done: closing }, nextDelayMs);
  return { outcome: "updated", report, elapsedMs, nextDelayMs, restarted };
}
