import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { formatSoakReport } from "../../local/soak/report.js";
import { runSoak, type SoakResult } from "../../local/soak/soak-run.js";
import { repoRoot } from "../../local/runner/run-local.js";
import { ensureBuilt } from "../support/runner-build.js";
import { smallSoakChaos } from "../support/small-soak.js";

/*
 * The fault soak in pool mode, small: WORKER_MODE=pool, each worker running the real agent
 * against IMDS and the crunch-run simulator, with soak.test.ts's fault mix (fewer Arvados
 * faults) plus order tags IMDS shows late and DescribeInstances' lag. Every invariant must hold,
 * the worker ones too (from the simulators' records): at most one crunch-run per container lock,
 * none lost, no instance left once the pool has drained, no worker idle past TimeoutIdle plus
 * one sweep.
 *
 * Few containers and a short TimeoutIdle keep it cheap: the suite runs one file at a time.
 * Kept out, and covered by `npm run soak -- --worker-mode pool`: workers dying and spot reclaims
 * (a container bound to a dead worker comes back UNLISTED_GRACE_MS, a real minute, after it was
 * bound), agents that never start and refused order tags (their only recovery today is
 * TimeoutBooting plus the image-load allowance, an hour: lib/scheduler/plan-reconcile.ts).
 */

let result: SoakResult;
let output = "";
const stateDir = join(repoRoot, ".local", "soak-pool-test");

beforeAll(async () => {
  await ensureBuilt();
  result = await runSoak({
    workerMode: "pool",
    containers: 12,
    seed: 20261207,
    timeLimitMs: 120_000,
    chaosMs: 15_000,
    submitWindowMs: 6_000,
    runtimeSeconds: { min: 2, max: 4 },
    timeoutIdleMs: 10_000,
    // soak.test.ts runs the whole mix; here fewer Arvados faults, whose slow replies would hold
    // the first launch pass (it locks its whole plan before its first RunInstances) for half a minute.
    chaos: { ...smallSoakChaos, arvadosFault: 0.1 },
    spotReclaims: false,
    // Order tags come late; no worker dies (see above).
    workerChaos: { chaosMs: 15_000, instanceDeath: 0, neverBoots: 0, lostTag: 0, lateTag: 0.5 },
    dynamodbEndpoint: inject("dynamodbEndpoint"),
    stateDir,
    out: {
      write: (text: string) => {
        output += text;
      },
    },
    progressEveryMs: 5_000,
  });
  output += formatSoakReport(result);
  // The figures of the last run, for reading after a failure.
  writeFileSync(join(stateDir, "report.txt"), output);
}, 240_000);

const verdict = (name: string) => {
  const found = result.invariants.find((i) => i.name.startsWith(name));
  return { pass: found?.pass, figures: found?.figures, examples: found?.examples };
};
const passed = (name: string) => expect(verdict(name), output).toMatchObject({ pass: true });

describe("the pool soak runs its containers on workers through the real agent", () => {
  it("starts a crunch-run through a worker's agent for every satisfiable container", () => {
    expect(result.workers?.agents.started, output).toBeGreaterThan(0);
    expect(result.workers?.crunchRun.started, output).toBeGreaterThanOrEqual(result.containers - result.unsatisfiable);
  });

  it("loses RunInstances replies of batched calls, and kills function environments", () => {
    expect(result.faults.crashPoints["run-instances-reply-lost (launch)"] ?? 0, output).toBeGreaterThan(0);
    const kills =
      Object.values(result.faults.randomKills).reduce((a, b) => a + b, 0) + result.faults.environmentsKilled;
    expect(kills, output).toBeGreaterThan(0);
  });
});

describe("after the faults stop, the pool converges and nothing is lost, run twice or left idle", () => {
  it("converges before the time limit", () => {
    expect(result.converged, output).toBe(true);
  });

  it("ends every container Complete, or Cancelled only for an upstream reason", () => passed("every container"));

  it("never starts more than one crunch-run for one container lock", () =>
    passed("at most one crunch-run per container lock"));

  it("leaves no instance running once the pool has drained", () => passed("no instance left running"));

  it("leaves no worker idle past TimeoutIdle plus one sweep", () => passed("no worker idle past TimeoutIdle"));

  it("leaves no queue entry for a finished container", () => passed("no queue entry left"));

  it("never lets its own retries use up a container's MaxDispatchAttempts", () =>
    passed("lock_count below MaxDispatchAttempts"));

  it("keeps the Arvados token in the Authorization header", () => passed("the Arvados token"));
});
