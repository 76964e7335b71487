import { afterEach, describe, expect, it } from "vitest";
import { runCleanupPass } from "../../lib/cleanup/cleanup-pass.js";
import { runLaunchPass } from "../../lib/launch/launch-pass.js";
import { type DispatchHarness, dispatchHarness } from "../support/dispatch.js";

/*
 * What the pool soak (`npm run soak -- --worker-mode pool`, soak-pool.test.ts) found, each kept
 * as the smallest test that shows it. A finding not fixed yet is an `it.fails`: it passes while
 * the bug is there, and fails (turn it into `it`) once it is fixed.
 */

let h: DispatchHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const plenty = () => 60_000;

describe("a spot interruption acts on the container's state in Arvados, not on the queue's cached one", () => {
  // Soak seed 20261207 (pool, 16 containers): a worker's agent started its container moments after
  // boot, EC2 warned at once, and cleanup still had the entry cached Locked: it terminated the
  // instance and tried to requeue (unlock: 422, Arvados has it Running), so the container stayed
  // Running on no instance until the "not running on any instance" rule, UNLISTED_GRACE_MS after
  // its launch. Fixed: handleInterruptions asks Arvados (heldLock) when the cache says Locked.
  it("cancels a container that became Running after the last poll", async () => {
    const d = await dispatchHarness();
    h = d;
    const c = d.sim.addContainer({ state: "Queued", priority: 5, runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
    await d.refresh();
    await runLaunchPass(d.launchDeps(), plenty);
    const instanceId = (await d.store.get(c.uuid))?.launch?.instanceId ?? "";
    expect(instanceId).not.toBe("");
    // crunch-run starts it; the queue has not polled since (its entry still says Locked).
    d.sim.startContainer(c.uuid);
    const report = await runCleanupPass(d.cleanupDeps(), [instanceId]);
    expect(report.terminated["spot interruption"]).toBe(1);
    expect(d.sim.getContainer(c.uuid)?.state).toBe("Cancelled");
  });
});
