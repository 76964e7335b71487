import { describe, expect, it } from "vitest";
import { runLaunchPass } from "../../lib/launch/launch-pass.js";
import { Ec2Error } from "../../lib/model/cloud-errors.js";
import type { QueueEntry } from "../../lib/model/entry.js";
import { PortFakes } from "../support/port-fakes.js";
import { clusterConfig, containerUuid, entry, type EntrySpec, MINUTE, NOW } from "./scheduler-fixtures.js";

/*
 * Found by the pool soak (`npm run soak -- --seed 4242 --worker-mode pool`, 2026-12-07): a
 * batched call's reply was lost, its one worker booted, crunch-run could not start the container
 * (an API error at its first update), and the idle worker powered itself off. Every later pass
 * repeated the call, EC2 answered IdempotentInstanceTerminated (the token's instance is gone), the
 * intent was cleared and the container left Locked under the same lock; the next pass planned
 * the same one-container batch, hence the same ClientToken, and got the same answer: forever.
 * With the dynamic limit at 1 (503s), that one container stopped every launch (783 Queued, 1
 * instance in 6 minutes). One instance per container gives the lock back on this answer
 * (launch-container.ts: "the next lock has a new token"); a batch should too.
 * Fixed: pool-work.ts gives the locks back (giveBackLocks) on this answer, for a repeat and a new batch.
 */

const c = containerUuid;
const GiB = 2 ** 30;

function ent(i: number, spec: EntrySpec = {}): QueueEntry {
  const e = entry(i, spec);
  e.instanceResources = { VCPUs: 1, RAM: GiB / 4, Scratch: GiB, GPUs: 0, GPUVRAM: 0 };
  return e;
}

const run = (f: PortFakes) => runLaunchPass(f.poolLaunchDeps(), () => 10 * MINUTE);
const terminated = () =>
  new Ec2Error({
    code: "IdempotentInstanceTerminated",
    message: "The client token you have provided is associated with a resource that is already deleted.",
    fault: "client",
    outcome: "terminated",
    throttleDelayMs: 0,
  });

describe("a batched call whose instances are already gone gives its locks back", () => {
  it("unlocks the batch's containers when the repeat of an open intent is answered IdempotentInstanceTerminated", async () => {
    const f = new PortFakes(clusterConfig(), () => NOW);
    f.add(ent(1, { types: [1] }));
    f.workerAnswers.push(
      new Ec2Error({ code: "InternalError", message: "x", fault: "server", outcome: "unknown", throttleDelayMs: 0 }),
    );
    await run(f);
    // The next pass sees the entry Locked with its open intent, and repeats the call.
    const e = f.entries.get(c(1));
    const intent = f.intents.get(c(1));
    if (e !== undefined && intent !== undefined) f.entries.set(c(1), { ...e, launchIntent: intent });
    f.log.length = 0;
    f.workerAnswers.push(terminated());
    await run(f);
    expect(f.log).toContain(`unlock ${c(1)}`);
  });

  it("unlocks a Locked container whose new batch (same lock, same token) is answered IdempotentInstanceTerminated", async () => {
    const f = new PortFakes(clusterConfig(), () => NOW);
    f.add(ent(1, { types: [1], state: "Locked" }));
    f.workerAnswers.push(terminated());
    await run(f);
    expect(f.log).toContain(`unlock ${c(1)}`);
  });
});
