import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { formatSoakReport } from "../../local/soak/report.js";
import { runSoak, type SoakResult } from "../../local/soak/soak-run.js";
import { repoRoot } from "../../local/runner/run-local.js";
import { ensureBuilt } from "../support/runner-build.js";
import { smallSoakChaos } from "../support/small-soak.js";

/*
 * The fault soak, small: `npm run soak`'s engine on 50 containers with faults for the first 25 s
 * (seeded, so the fault schedule is the same every run), then calm until the system converges.
 * Every invariant must hold.
 *
 * Kept out of this variant, and covered by `npm run soak`, are the faults whose recovery takes up
 * to a minute by design (README "Reliability"): killing launch (a dead pass holds the launch-pass
 * lease until launch's timeout), EC2 quota and capacity errors (§4.1: a repeated launch intent is
 * pinned to its subnet, so even a per-subnet capacity error blocks its type for a minute), Arvados
 * 503s, whichever function sees them (§3.3: all are shared with launch), and replies slower than
 * the client's 30 s timeout. The states between lock and
 * launch are still produced here, by lost replies: a lock applied whose reply is truncated, and a
 * RunInstances reply dropped after the instance exists; and choose-instance-types is killed
 * around its lock of an unsatisfiable container.
 */

let result: SoakResult;
let output = "";
const stateDir = join(repoRoot, ".local", "soak-test");

beforeAll(async () => {
  await ensureBuilt();
  result = await runSoak({
    containers: 50,
    seed: 20261129,
    timeLimitMs: 150_000,
    chaosMs: 25_000,
    submitWindowMs: 18_000,
    runtimeSeconds: { min: 1, max: 2 },
    chaos: smallSoakChaos,
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

describe("the soak injects every kind of fault during its fault phase", () => {
  it("fails Arvados requests (5xx, slow, malformed, truncated, reset)", () => {
    expect(Object.keys(result.faults.arvados).length, output).toBeGreaterThanOrEqual(4);
  });

  it("fails RunInstances with capacity, subnet, quota or throttling errors", () => {
    expect(
      Object.values(result.launches.runInstancesErrors).reduce((a, b) => a + b, 0),
      output,
    ).toBeGreaterThan(0);
  });

  it("throttles and fails DynamoDB requests through the fault proxy", () => {
    expect(
      Object.values(result.faults.dynamodb).reduce((a, b) => a + b, 0),
      output,
    ).toBeGreaterThan(0);
  });

  it("loses RunInstances replies and kills function environments mid-invocation", () => {
    expect(result.faults.crashPoints["run-instances-reply-lost (launch)"] ?? 0, output).toBeGreaterThan(0);
    const kills =
      Object.values(result.faults.randomKills).reduce((a, b) => a + b, 0) + result.faults.environmentsKilled;
    expect(kills, output).toBeGreaterThan(0);
  });

  it("reclaims spot instances under running containers, warning cleanup through the EventBridge rule", () => {
    expect(result.faults.spot.warned, output).toBeGreaterThan(0);
  });

  it("loses, duplicates and delays update-queue's ticks and launch's wake-ups (SQS is at-least-once)", () => {
    expect(result.faults.sqs.lost, output).toBeGreaterThan(0);
    expect(result.faults.sqs.duplicated, output).toBeGreaterThan(0);
    expect(result.faults.sqs.late, output).toBeGreaterThan(0);
  });

  it("redelivers and reorders stream batches", () => {
    expect(result.faults.stream.redelivered, output).toBeGreaterThan(0);
    expect(result.faults.stream.reordered, output).toBeGreaterThan(0);
  });
});

describe("after the faults stop, the dispatcher converges and nothing is lost or duplicated", () => {
  it("converges before the time limit", () => {
    expect(result.converged, output).toBe(true);
  });

  it("ends every container Complete, or Cancelled only for an upstream reason", () => passed("every container"));

  it("never starts more than one instance for one container lock", () => {
    passed("at most one instance per container lock");
    expect(result.launches.instancesCreated, output).toBeGreaterThanOrEqual(result.containers - result.unsatisfiable);
  });

  it("leaves no instance running", () => passed("no instance left running"));

  it("leaves no queue entry for a finished container", () => passed("no queue entry left"));

  it("never lets its own retries use up a container's MaxDispatchAttempts", () =>
    passed("lock_count below MaxDispatchAttempts"));
});

describe("under all of it, the Arvados token stays in the Authorization header", () => {
  it("appears in no log line and in no URL or body of any request to Arvados, EC2 or DynamoDB", () =>
    passed("the Arvados token"));
});

describe("two overlapping update-queue invocations", () => {
  it("overlap during the fault phase, and the one without the lease exits cleanly", () => {
    expect(result.faults.overlaps.pairs, output).toBeGreaterThan(0);
    expect(result.faults.overlaps.exitedOnLease, output).toBeGreaterThan(0);
  });
});
