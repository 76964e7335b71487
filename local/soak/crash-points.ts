/**
 * Crash points: the places between "lock" and "instance recorded" where a dying Lambda leaves
 * state half-changed. Armed by the fault driver, at most one per calling function; the next matching request
 * (a container lock in Arvados, or RunInstances in EC2) seen by the InterceptProxy in front of
 * that service triggers it, and the calling function's execution environments are killed at
 * that moment (LambdaFunction.crash), as a runtime crash or an out-of-memory kill would.
 *
 * Locks come from launch, and from choose-instance-types for a container no type fits (it locks,
 * sets runtime_status.error, cancels), so the caller is known by the container.
 */
import type { InterceptedRequest, Interception, InterceptPlan } from "./intercept-proxy.js";
import type { Random } from "./random.js";

/** Where the caller dies (or, for `run-instances-reply-lost`, only loses the reply). */
export const crashPoints = {
  "before-lock": { step: "lock", interception: "crash-before" },
  "lock-applied-reply-lost": { step: "lock", interception: "crash-after-processing" },
  "after-lock-reply": { step: "lock", interception: "crash-after-reply" },
  "before-run-instances": { step: "run-instances", interception: "crash-before" },
  "instance-created-reply-lost": { step: "run-instances", interception: "crash-after-processing" },
  "after-run-instances-reply": { step: "run-instances", interception: "crash-after-reply" },
  "run-instances-reply-lost": { step: "run-instances", interception: "lose-reply" },
} as const satisfies Record<string, { step: "lock" | "run-instances"; interception: Interception }>;
export type CrashPoint = keyof typeof crashPoints;

/** The functions that lock containers or call RunInstances. */
export type Caller = "launch" | "choose-instance-types";

/** How the point set reaches the rest of the run. */
export interface CrashPointOptions {
  /** Kills every busy environment of that function; returns how many died. */
  crash: (caller: Caller) => number;
  /** Whether no instance type fits this container (its lock comes from choose-instance-types). */
  isUnsatisfiable: (uuid: string) => boolean;
  random: Random;
}

const lockPath = /^\/arvados\/v1\/containers\/([^/?]+)\/lock(?:\?|$)/;

/** A CrashPointSet holds at most one armed point and counts what fired. */
export class CrashPointSet {
  /** Points that took effect, by point and caller ("after-lock-reply (launch)"): the caller died or lost the reply. */
  readonly fired: Record<string, number> = {};
  /** Crashes that found the caller already finished (it completed its step within the delay). */
  missed = 0;
  environmentsKilled = 0;
  private readonly armed = new Map<Caller, CrashPoint>();

  constructor(private readonly options: CrashPointOptions) {}

  /** Arms `point` for the next matching request from `caller`; false if that caller already has one armed. */
  arm(point: CrashPoint, caller: Caller): boolean {
    if (this.armed.has(caller)) return false;
    this.armed.set(caller, point);
    return true;
  }

  /** Disarms every pending point (the calm phase begins). */
  disarm(): void {
    this.armed.clear();
  }

  /** The InterceptProxy decision for the Arvados API. */
  arvados = (req: InterceptedRequest): InterceptPlan => {
    const uuid = req.method === "POST" ? lockPath.exec(req.path)?.[1] : undefined;
    if (uuid === undefined) return { interception: "forward" };
    return this.take("lock", this.options.isUnsatisfiable(uuid) ? "choose-instance-types" : "launch");
  };

  /** The InterceptProxy decision for EC2 (Query protocol: the Action is in the body). */
  ec2 = (req: InterceptedRequest): InterceptPlan => {
    const action =
      new URLSearchParams(req.body).get("Action") ?? new URL(req.path, "http://x").searchParams.get("Action");
    return action === "RunInstances" ? this.take("run-instances", "launch") : { interception: "forward" };
  };

  private take(step: "lock" | "run-instances", caller: Caller): InterceptPlan {
    const armed = this.armed.get(caller);
    if (armed === undefined || crashPoints[armed].step !== step) return { interception: "forward" };
    this.armed.delete(caller);
    const key = `${armed} (${caller})`;
    const interception = crashPoints[armed].interception;
    if (interception === "lose-reply") this.fired[key] = (this.fired[key] ?? 0) + 1;
    return {
      interception,
      crash: () => {
        const killed = this.options.crash(caller);
        this.environmentsKilled += killed;
        if (killed > 0) this.fired[key] = (this.fired[key] ?? 0) + 1;
        else this.missed++;
      },
      // Lands somewhere in the caller's next step or two: the lock_count read, the claim, recordLaunch.
      delayMs: Math.floor(this.options.random() * 12),
    };
  }
}
