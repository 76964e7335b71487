import { describe, expect, it } from "vitest";
import type { CrunchRunRecord } from "../../local/crunch-run-sim/host.js";
import type { AgentLife } from "../../local/worker-sim/agents.js";
import {
  checkWorkerInvariants,
  idleLimitMs,
  idleStretches,
  noWorkerIdlePastTimeout,
  oneCrunchRunPerLock,
  type WorkerOutcome,
} from "../../local/soak/worker-invariants.js";

/*
 * The pool soak's worker verdicts, from hand-made simulator records: each passes on a clean
 * record set and fails, naming the offender, on the records it exists to catch.
 */

const uuid = (i: number) => `zzzzz-dz642-${String(i).padStart(15, "0")}`;
const t0 = Date.parse("2026-12-07T12:00:00.000Z");
const s = (seconds: number) => t0 + seconds * 1000;

function run(node: string, i: number, lock: number, from: number, to?: number): CrunchRunRecord {
  return {
    node,
    uuid: uuid(i),
    lock,
    startedAt: s(from),
    ...(to === undefined ? {} : { endedAt: s(to), end: "exited" as const }),
  };
}

function agent(instanceId: string, from: number | undefined, to?: number): AgentLife {
  return {
    instanceId,
    neverBoots: from === undefined,
    ...(from === undefined ? {} : { startedAt: s(from) }),
    ...(to === undefined ? {} : { endedAt: s(to) }),
  };
}

// TimeoutIdle 30 s: the limit is 30 + 2 polls of 5 s + 1 s + a 2 s sweep = 43 s.
const limit = idleLimitMs({ timeoutIdleMs: 30_000, agentPollMs: 5_000, sweepMs: 2_000 });

/** Two workers: i-1 runs two containers back to back and powers off 35 s later; i-2 runs one. */
function outcome(fields: Partial<WorkerOutcome> = {}): WorkerOutcome {
  return {
    crunchRuns: [run("i-1", 1, 1, 10, 20), run("i-1", 2, 1, 21, 30), run("i-2", 3, 2, 12, 15)],
    agents: [agent("i-1", 8, 65), agent("i-2", 11, 50)],
    idleLimitMs: limit,
    endedAt: s(100),
    ...fields,
  };
}

describe("a clean record set passes both worker invariants", () => {
  it("passes both", () => {
    expect(limit).toBe(43_000);
    expect(checkWorkerInvariants(outcome()).map((r) => [r.name, r.pass])).toEqual([
      ["at most one crunch-run per container lock", true],
      ["no worker idle past TimeoutIdle plus one sweep", true],
    ]);
  });
});

describe("at most one crunch-run per container lock", () => {
  it("accepts a container started again under its next lock (a requeue), on another worker", () => {
    const r = oneCrunchRunPerLock(outcome({ crunchRuns: [run("i-1", 1, 1, 10, 12), run("i-2", 1, 2, 30, 40)] }));
    expect({ pass: r.pass, figures: r.figures }).toEqual({
      pass: true,
      figures:
        "2 crunch-runs started for 2 locks of 1 containers; locks with more than one: 0; starts of an unknown lock: 0",
    });
  });

  it("fails for two crunch-runs of one lock on two workers, naming both", () => {
    const r = oneCrunchRunPerLock(outcome({ crunchRuns: [run("i-1", 1, 1, 10, 20), run("i-2", 1, 1, 11, 21)] }));
    expect({ pass: r.pass, examples: r.examples }).toEqual({
      pass: false,
      examples: [`${uuid(1)} lock 1: on i-1, i-2`],
    });
  });

  it("fails for one lock started twice on one worker, after the first ended", () => {
    const r = oneCrunchRunPerLock(outcome({ crunchRuns: [run("i-1", 1, 1, 10, 12), run("i-1", 1, 1, 20, 25)] }));
    expect(r.pass).toBe(false);
  });

  it("fails for a start whose lock was not recorded: it could be anyone's", () => {
    const unknown = { ...run("i-1", 1, 1, 10, 12), lock: undefined };
    const r = oneCrunchRunPerLock(outcome({ crunchRuns: [unknown] }));
    expect({ pass: r.pass, examples: r.examples }).toEqual({
      pass: false,
      examples: [`${uuid(1)} on i-1: lock unknown`],
    });
  });
});

describe("no worker idle past TimeoutIdle plus one sweep", () => {
  it("derives idle stretches from the agent's life less its crunch-runs", () => {
    expect(idleStretches(outcome()).map((x) => [x.instanceId, (x.from - t0) / 1000, (x.to - t0) / 1000])).toEqual([
      ["i-1", 8, 10],
      ["i-1", 20, 21],
      ["i-1", 30, 65],
      ["i-2", 11, 12],
      ["i-2", 15, 50],
    ]);
  });

  it("counts overlapping crunch-runs as one busy stretch", () => {
    const r = idleStretches(
      outcome({ crunchRuns: [run("i-1", 1, 1, 10, 30), run("i-1", 2, 1, 12, 20)], agents: [agent("i-1", 10, 40)] }),
    );
    expect(r.map((x) => [(x.from - t0) / 1000, (x.to - t0) / 1000])).toEqual([[30, 40]]);
  });

  it("fails for a worker that stayed idle past the limit before powering off", () => {
    const r = noWorkerIdlePastTimeout(outcome({ agents: [agent("i-1", 8, 90), agent("i-2", 11, 50)] }));
    expect({ pass: r.pass, examples: r.examples }).toEqual({ pass: false, examples: ["i-1 idle 60.0 s"] });
  });

  it("fails for a worker idle at the end, never powered off, and for one never given a container", () => {
    const r = noWorkerIdlePastTimeout(outcome({ agents: [agent("i-1", 8), agent("i-2", 11, 50), agent("i-3", 20)] }));
    expect({ pass: r.pass, examples: r.examples }).toEqual({
      pass: false,
      examples: ["i-3 idle 80.0 s (still at the end)", "i-1 idle 70.0 s (still at the end)"],
    });
  });

  it("fails for a long idle stretch between two containers, though the worker powered off in time after", () => {
    const r = noWorkerIdlePastTimeout(
      outcome({ crunchRuns: [run("i-1", 1, 1, 10, 12), run("i-1", 2, 1, 60, 62)], agents: [agent("i-1", 10, 70)] }),
    );
    expect(r.examples).toEqual(["i-1 idle 48.0 s"]);
  });

  it("leaves a worker whose agent never started out: booting is not idle (TimeoutBooting's business)", () => {
    const r = noWorkerIdlePastTimeout(
      outcome({ agents: [agent("i-1", 8, 65), agent("i-2", 11, 50), agent("i-4", undefined)] }),
    );
    expect({ pass: r.pass, figures: r.figures }).toEqual({
      pass: true,
      figures: "2 of 3 workers' agents started; longest idle 35.0 s, limit 43.0 s; stretches over it: 0",
    });
  });
});
