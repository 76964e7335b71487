/**
 * The tick chain's messages and ports (DESIGN "Pay for work, not for waiting"): update-queue's
 * ticks, one per PollInterval, each claimed once on `#queue`; launch's wake-ups at the end of a
 * window (§4.1) or for a backlog. Delivered later by a TickSender (SQS delayed messages).
 */

/** Why launch asked to be woken: a backlog left for the next pass, or a window that expires (§4.1). */
export type WakeReason = "backlog" | "throttle" | "quota" | "capacity";

/**
 * What the update that sent a tick leaves for that tick's claim to write (§1.5 step 5): the
 * update's start time (the new threshold), the token's uuid, how many cached containers wait,
 * and the update's lease owner (the claim takes the lease over from it). Carried in the message
 * so a tick costs one write on `#queue`, not two.
 */
export interface UpdateDone {
  owner: string;
  startedAt: string;
  tokenUuid: string;
  waiting: number;
}

/** A tick of update-queue (with the generation it may claim) or a wake-up of launch. */
export type TickMessage =
  | { kind: "update-tick"; generation: number; done?: UpdateDone }
  | { kind: "launch-wake"; reason: WakeReason };

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
    const done = parseDone(m.done);
    return done === undefined
      ? { kind: "update-tick", generation: m.generation }
      : { kind: "update-tick", generation: m.generation, done };
  }
  if (m.kind === "launch-wake" && typeof m.reason === "string" && wakeReasons.includes(m.reason)) {
    return { kind: "launch-wake", reason: m.reason as WakeReason };
  }
  return undefined;
}

/** An UpdateDone as this code writes it; undefined for anything else (the claim then writes no threshold). */
function parseDone(value: unknown): UpdateDone | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const d = value as Record<string, unknown>;
  const { owner, startedAt, tokenUuid, waiting } = d;
  if (typeof owner !== "string" || typeof startedAt !== "string" || typeof tokenUuid !== "string") return undefined;
  if (typeof waiting !== "number" || !Number.isSafeInteger(waiting) || waiting < 0) return undefined;
  // The threshold is compared as text with the stored one: only the ISO form toISOString writes.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(startedAt)) return undefined;
  return { owner, startedAt, tokenUuid, waiting };
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

/**
 * What a claim writes: the generation claimed, the claimer, until when the chain is covered,
 * and what the previous update left (its threshold, token uuid and waiting count; its lease is
 * taken over).
 */
export interface TickClaimInput {
  generation: number;
  owner: string;
  nowMs: number;
  /** How long the update lease lasts (the invocation's remaining time). */
  leaseMs: number;
  /** Until when the chain counts as alive without another claim. */
  dueByMs: number;
  /** The update that sent this tick; absent after a failed update, a held lease, or a watchdog restart. */
  done?: UpdateDone;
}

/** The chain's state on `#queue` (lib/store's TickStore). */
export interface TickChain {
  chain(): Promise<TickChainState>;
  claim(input: TickClaimInput): Promise<TickClaim>;
}

/**
 * Relays a launch wake-up that came on the tick queue to launch (lib/store's
 * TableLaunchWakeRelay: a write whose stream record launch's mapping matches). One queue serves
 * both update-queue's ticks and launch's wake-ups, because Lambda's poller bills an idle queue's
 * empty receives around the clock (README "Cost").
 */
export interface LaunchWakeRelay {
  /** False when a later relay was already recorded (this one starts no pass). */
  relay(reason: WakeReason, nowMs: number): Promise<boolean>;
}

/** Where launch's pending wake-up time is kept (lib/store's LaunchWakes). */
export interface WakeSchedule {
  /** True when this caller should send the wake-up (none pending at or before `atMs`). */
  schedule(atMs: number, nowMs: number): Promise<boolean>;
}
