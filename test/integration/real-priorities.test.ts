import { afterEach, describe, expect, it } from "vitest";
import { maxPriority } from "../../lib/model/container.js";
import { runLaunchPass } from "../../lib/launch/launch-pass.js";
import { type DispatchHarness, dispatchHarness } from "../support/dispatch.js";

let h: DispatchHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const plenty = () => 60_000;
const small = { state: "Queued", runtime_constraints: { ram: 2 ** 30, vcpus: 1 } };

/**
 * Issue #14's acceptance: the values a real cluster sends (request priority × 2^50 − created_at
 * ms, §5.6: ~5.6e17, past 2^53) go through update, type choice, lock and launch, and the order
 * holds to the last unit, where a JavaScript number would see equal priorities.
 */
describe("real int64 priorities are carried and ordered exactly from poll to launch (§5.6)", () => {
  it("locks and launches in exact priority order, two containers 1 apart included", async () => {
    const d = await dispatchHarness("MaxInstances: 10");
    h = d;
    const createdAtMs = Date.UTC(2026, 11, 7, 7, 0, 0);
    // One request each, 1 ms apart: the older request's container is exactly 1 higher.
    const older = d.sim.addContainer(small, { request: { priority: 500, createdAtMs } });
    const younger = d.sim.addContainer(small, { request: { priority: 500, createdAtMs: createdAtMs + 1 } });
    // An admin-set priority just past 2^62 and its neighbour, and the int64 maximum.
    const top = d.sim.addContainer({ ...small, priority: maxPriority });
    const high = d.sim.addContainer({ ...small, priority: (1n << 62n) + 1n });
    const highNeighbour = d.sim.addContainer({ ...small, priority: 1n << 62n });
    // The CWL runner's default request priority, created later: lowest of all.
    const later = d.sim.addContainer(small, { request: { priority: 500, createdAtMs: createdAtMs + 60_000 } });

    expect(older.priority - younger.priority).toBe(1n);
    expect(Number(older.priority)).toBe(Number(younger.priority));
    expect(older.priority > 2n ** 53n).toBe(true);

    await d.refresh();
    for (const c of [older, younger, top, high, highNeighbour, later]) {
      const entry = await d.store.get(c.uuid);
      expect(entry?.container.priority).toBe(c.priority);
      expect(entry?.instanceTypes?.[0]).toBe("small");
    }

    // RunInstances is paced at 2 a second (burst 4): a pass that runs out of tokens asks to be
    // woken when the bucket is full again, and the next pass (that wake-up) goes on in order.
    const launched: string[] = [];
    for (let pass = 0; pass < 4 && launched.length < 6; pass++) {
      const report = await runLaunchPass(d.launchDeps(), plenty);
      launched.push(...report.launched.map((l) => l.uuid));
      if (report.wake !== undefined)
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, (report.wake?.atMs ?? 0) - Date.now()) + 20));
    }
    const expected = [top, high, highNeighbour, older, younger, later].map((c) => c.uuid);
    expect(launched).toEqual(expected);
    const locks = d.sim
      .requests()
      .filter((r) => r.method === "POST" && r.path.endsWith("/lock") && r.status === 200)
      .map((r) => r.path.split("/")[4]);
    expect(locks).toEqual(expected);
    for (const c of [older, younger, top, high, highNeighbour, later]) {
      expect(d.sim.getContainer(c.uuid)?.state).toBe("Locked");
      expect((await d.store.get(c.uuid))?.container.priority).toBe(c.priority);
    }
  });

  it("a priority raised by 1 unit reorders the next plan", async () => {
    const d = await dispatchHarness("MaxInstances: 1");
    h = d;
    const createdAtMs = Date.UTC(2026, 11, 7, 7, 0, 0);
    const first = d.sim.addContainer(small, { request: { priority: 700, createdAtMs } });
    const second = d.sim.addContainer(small, { request: { priority: 700, createdAtMs: createdAtMs + 1 } });
    d.sim.setPriority(second.uuid, first.priority + 1n);
    await d.refresh();
    expect((await d.store.get(second.uuid))?.container.priority).toBe(first.priority + 1n);
    const report = await runLaunchPass(d.launchDeps(), plenty);
    expect(report.launched.map((l) => l.uuid)).toEqual([second.uuid]);
    expect(d.sim.getContainer(first.uuid)?.state).toBe("Queued");
  });
});
