/**
 * The tick chain's messages and ports (DESIGN "Pay for work, not for waiting"): update-queue's
 * ticks, one per PollInterval, each claimed once on `#queue`; launch's wake-ups at the end of a
 * window (§4.1) or for a backlog. Delivered later by a TickSender (SQS delayed messages).
 */

/** Why launch asked to be woken: a backlog left for the next pass, or a window that expires (§4.1). */
export type WakeReason = "backlog" | "throttle" | "quota" | "capacity";

/** A tick of update-queue (with the generation it may claim) or a wake-up of launch. */
export type TickMessage = { kind: "update-tick"; generation: number } | { kind: "launch-wake"; reason: WakeReason };

const wakeReasons: readonly string[] = ["backlog", "throttle", "quota", "capacity"] satisfies WakeReason[];

/** The message body of `message`. */
export function tickBody(message: TickMessage): string {
  return JSON.stringify(message);
}

/** The tick in a message body; undefined for anything else (a body this code did not send). */
export function parseTick(body: string): TickMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const m = value as Record<string, unknown>;
  if (
    m.kind === "update-tick" &&
    typeof m.generation === "number" &&
    Number.isSafeInteger(m.generation) &&
    m.generation >= 0
  ) {
    return { kind: "update-tick", generation: m.generation };
  }
  if (m.kind === "launch-wake" && typeof m.reason === "string" && wakeReasons.includes(m.reason)) {
    return { kind: "launch-wake", reason: m.reason as WakeReason };
  }
  return undefined;
}

/** A TickSender delivers a tick message later: the narrow port update-tick and launch depend on. */
export interface TickSender {
  /** Sends `message` to be delivered `delayMs` from now (rounded up to whole seconds, at most 15 minutes); resolves once it was taken. */
  send(message: TickMessage, delayMs: number): Promise<void>;
}

/**
 * How a tick's claim ended: claimed with the update lease (and what `#queue` said of the queue
 * index, so the update need not read it again), claimed without it, or not claimed (a duplicate
 * or late tick).
 */
export type TickClaim = { claim: "claimed"; indexShards?: number } | { claim: "claimedLeaseHeld" } | { claim: "stale" };

/** The chain as the `#queue` item holds it. */
export interface TickChainState {
  /** The generation the next tick must carry (0 before the first claim). */
  generation: number;
  /** Until when the chain is covered by a pending tick or a running update; undefined before the first. */
  dueByMs?: number;
}

/** What a claim writes: the generation claimed, the claimer, and until when the chain is covered. */
export interface TickClaimInput {
  generation: number;
  owner: string;
  nowMs: number;
  /** How long the update lease lasts (the invocation's remaining time). */
  leaseMs: number;
  /** Until when the chain counts as alive without another claim. */
  dueByMs: number;
}

/** What the closing write of a tick's update sets on `#queue`. */
export interface TickFinish {
  owner: string;
  updateStartedAt: string;
  tokenUuid: string;
  dueByMs: number;
  /** Cached containers Queued or Locked after the update (the launch sweep skips its pass at 0). */
  waiting: number;
}

/** The chain's state on `#queue` (lib/store's TickStore). */
export interface TickChain {
  chain(): Promise<TickChainState>;
  claim(input: TickClaimInput): Promise<TickClaim>;
  /** False when this invocation no longer holds the update lease. */
  finishUpdate(input: TickFinish): Promise<boolean>;
}

/** Where launch's pending wake-up time is kept (lib/store's LaunchWakes). */
export interface WakeSchedule {
  /** True when this caller should send the wake-up (none pending at or before `atMs`). */
  schedule(atMs: number, nowMs: number): Promise<boolean>;
}
