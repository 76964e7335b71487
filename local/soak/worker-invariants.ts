/**
 * The soak's worker invariants (issue #18 point 5), for pool mode: checked against what the
 * instance-side simulators recorded (every crunch-run the crunch-run simulator started, every
 * worker agent's life), not against what the dispatcher believes.
 *
 * - at most one crunch-run per container lock: two starts of one container under one
 *   lock_count mean the dispatcher ordered one lock onto two workers (or one twice);
 * - no worker idle past TimeoutIdle plus one sweep: a pool worker whose agent runs with no
 *   crunch-run on it must be gone by then (the agent's own power-off, or the dispatcher's).
 *
 * "No container lost" and "no instance left running" are the soak's own (invariants.ts).
 */
import type { CrunchRunRecord } from "../crunch-run-sim/host.js";
import type { AgentLife } from "../worker-sim/agents.js";
import type { InvariantResult } from "./invariants.js";

/** What the worker invariants look at. */
export interface WorkerOutcome {
  crunchRuns: readonly CrunchRunRecord[];
  /** Pool workers' agents (per-container instances are not workers: out of the idle rule). */
  agents: readonly AgentLife[];
  /** The longest a worker may stay idle: TimeoutIdle plus one sweep (see `idleLimitMs`). */
  idleLimitMs: number;
  /** Epoch ms the records end (an agent or crunch-run still running counts up to here). */
  endedAt: number;
}

const exampleLimit = 5;

/**
 * How long a pool worker may be idle: TimeoutIdle, plus one sweep of whoever enforces it. The
 * agent notices idleness at a poll and powers off at a poll (two polls, on a whole-second
 * clock), and cleanup's backstop acts at its next scheduled run (one tick).
 */
export function idleLimitMs(o: { timeoutIdleMs: number; agentPollMs: number; sweepMs: number }): number {
  return o.timeoutIdleMs + 2 * o.agentPollMs + 1_000 + o.sweepMs;
}

/** At most one crunch-run was ever started per container lock (the lock_count when it started). */
export function oneCrunchRunPerLock(o: WorkerOutcome): InvariantResult {
  const byLock = new Map<string, CrunchRunRecord[]>();
  const unknown: CrunchRunRecord[] = [];
  for (const r of o.crunchRuns) {
    if (r.lock === undefined) {
      unknown.push(r);
      continue;
    }
    const key = `${r.uuid} lock ${r.lock}`;
    byLock.set(key, [...(byLock.get(key) ?? []), r]);
  }
  const duplicated = [...byLock].filter(([, list]) => list.length > 1);
  const containers = new Set(o.crunchRuns.map((r) => r.uuid));
  return {
    name: "at most one crunch-run per container lock",
    pass: duplicated.length === 0 && unknown.length === 0,
    figures: `${o.crunchRuns.length} crunch-runs started for ${byLock.size} locks of ${containers.size} containers; locks with more than one: ${duplicated.length}; starts of an unknown lock: ${unknown.length}`,
    examples: [
      ...duplicated.map(([key, list]) => `${key}: on ${list.map((r) => r.node).join(", ")}`),
      ...unknown.map((r) => `${r.uuid} on ${r.node}: lock unknown`),
    ].slice(0, exampleLimit),
  };
}

/** One stretch of a worker's life with no crunch-run on it. */
export interface IdleStretch {
  instanceId: string;
  from: number;
  to: number;
}

/**
 * The idle stretches of each worker: from its agent's start to its end (or `endedAt`), the
 * times no crunch-run ran on it. A worker whose agent never started is booting, not idle
 * (TimeoutBooting's business, and "no instance left running" catches one that stays).
 */
export function idleStretches(o: WorkerOutcome): IdleStretch[] {
  const busy = new Map<string, { from: number; to: number }[]>();
  for (const r of o.crunchRuns) {
    const list = busy.get(r.node) ?? [];
    list.push({ from: r.startedAt, to: r.endedAt ?? o.endedAt });
    busy.set(r.node, list);
  }
  const out: IdleStretch[] = [];
  for (const a of o.agents) {
    if (a.startedAt === undefined) continue;
    const end = a.endedAt ?? o.endedAt;
    let from = a.startedAt;
    for (const b of (busy.get(a.instanceId) ?? []).sort((x, y) => x.from - y.from)) {
      if (b.from > from) out.push({ instanceId: a.instanceId, from, to: Math.min(b.from, end) });
      from = Math.max(from, b.to);
    }
    if (end > from) out.push({ instanceId: a.instanceId, from, to: end });
  }
  return out.filter((s) => s.to > s.from);
}

/** No pool worker stayed idle longer than TimeoutIdle plus one sweep. */
export function noWorkerIdlePastTimeout(o: WorkerOutcome): InvariantResult {
  const stretches = idleStretches(o);
  const longest = Math.max(0, ...stretches.map((s) => s.to - s.from));
  const over = stretches.filter((s) => s.to - s.from > o.idleLimitMs).sort((a, b) => b.to - b.from - (a.to - a.from));
  const booted = o.agents.filter((a) => a.startedAt !== undefined).length;
  return {
    name: "no worker idle past TimeoutIdle plus one sweep",
    pass: over.length === 0,
    figures: `${booted} of ${o.agents.length} workers' agents started; longest idle ${(longest / 1000).toFixed(1)} s, limit ${(o.idleLimitMs / 1000).toFixed(1)} s; stretches over it: ${over.length}`,
    examples: over
      .slice(0, exampleLimit)
      .map(
        (s) =>
          `${s.instanceId} idle ${((s.to - s.from) / 1000).toFixed(1)} s${s.to === o.endedAt ? " (still at the end)" : ""}`,
      ),
  };
}

/** Both worker invariants, in report order. */
export function checkWorkerInvariants(o: WorkerOutcome): InvariantResult[] {
  return [oneCrunchRunPerLock(o), noWorkerIdlePastTimeout(o)];
}
