import { describe, expect, it } from "vitest";
import { countEntriesByStateAndType, noInstanceType } from "../../lib/queue/entry-counts.js";
import { UpdateLeaseHeldError, type UpdateReport } from "../../lib/queue/queue.js";
import type { QueueEntry } from "../../lib/model/entry.js";
import { runUpdateLoop } from "../../lib/queue/update-loop.js";
import { planWrites } from "../../lib/queue/write-plan.js";
import { containerUuid, queueEntry, queuedContainer } from "../support/fixtures.js";

/** A recording fake of the queue port: each update takes `costMs` of fake time and returns `entries`. */
function fakeQueue(entries: QueueEntry[], options: { costMs?: number; leaseHeld?: boolean; failOn?: number } = {}) {
  const clock = { t: 0 };
  const calls: string[] = [];
  const queue = {
    async update(): Promise<UpdateReport> {
      calls.push("update");
      if (options.leaseHeld) throw new UpdateLeaseHeldError();
      if (options.failOn === calls.filter((c) => c === "update").length) throw new Error("poll failed");
      clock.t += options.costMs ?? 100;
      return { startedAt: "", apiRequests: 2, inserted: 0, replaced: 0, removed: 0, skippedForLocalChange: 0, entries };
    },
    async releaseUpdateLease() {
      calls.push("release");
    },
  };
  const sleep = async (ms: number) => {
    calls.push(`sleep ${ms}`);
    clock.t += ms;
  };
  return { queue, calls, clock, sleep };
}

const busy = [queueEntry(1, { state: "Queued" })];

describe("update-queue's loop within one invocation", () => {
  it("polls every PollInterval while there is work and the budget allows, then releases the lease", async () => {
    const f = fakeQueue(busy);
    const result = await runUpdateLoop({
      queue: f.queue,
      pollIntervalMs: 10_000,
      remainingMs: () => 60_000 - f.clock.t,
      marginMs: 5_000,
      sleep: f.sleep,
      now: () => f.clock.t,
    });
    // Updates end at 0.1, 10.2, 20.3, 30.4, 40.5 and 50.6 s; a 7th would need 15.1 s of the 9.4 left.
    expect(result).toEqual({ updates: 6, leaseHeld: false });
    expect(f.calls.at(-1)).toBe("release");
    expect(f.calls.filter((c) => c === "sleep 10000")).toHaveLength(5);
  });

  it("polls once when the queue is idle", async () => {
    const f = fakeQueue([queueEntry(1, { state: "Complete" })]);
    const result = await runUpdateLoop({ queue: f.queue, pollIntervalMs: 10_000, remainingMs: () => 60_000, marginMs: 5_000, sleep: f.sleep, now: () => f.clock.t });
    expect(result.updates).toBe(1);
  });

  it("makes exactly one pass when little time is left", async () => {
    const f = fakeQueue(busy);
    const result = await runUpdateLoop({ queue: f.queue, pollIntervalMs: 10_000, remainingMs: () => 6_000, marginMs: 5_000, sleep: f.sleep, now: () => f.clock.t });
    expect(result.updates).toBe(1);
  });

  it("waits max(elapsed, PollInterval) so a slow server is polled no faster than it answers (§3.2)", async () => {
    const f = fakeQueue(busy, { costMs: 15_000 });
    await runUpdateLoop({ queue: f.queue, pollIntervalMs: 10_000, remainingMs: () => 120_000 - f.clock.t, marginMs: 5_000, sleep: f.sleep, now: () => f.clock.t });
    expect(f.calls).toContain("sleep 15000");
    expect(f.calls).not.toContain("sleep 10000");
  });

  it("exits cleanly when another invocation holds the lease", async () => {
    const f = fakeQueue(busy, { leaseHeld: true });
    const result = await runUpdateLoop({ queue: f.queue, pollIntervalMs: 10_000, remainingMs: () => 60_000, marginMs: 5_000, sleep: f.sleep, now: () => f.clock.t });
    expect(result).toEqual({ updates: 0, leaseHeld: true });
  });

  it("rethrows an update failure after releasing the lease", async () => {
    const f = fakeQueue(busy, { failOn: 2 });
    await expect(
      runUpdateLoop({ queue: f.queue, pollIntervalMs: 10_000, remainingMs: () => 60_000 - f.clock.t, marginMs: 5_000, sleep: f.sleep, now: () => f.clock.t }),
    ).rejects.toThrow("poll failed");
    expect(f.calls.at(-1)).toBe("release");
  });
});

describe("planWrites: only what changed is written (§1.5)", () => {
  const cached = new Map([
    [containerUuid(1), queueEntry(1)],
    [containerUuid(2), queueEntry(2)],
    [containerUuid(3), queueEntry(3)],
  ]);

  it("inserts new, replaces changed, removes absent, and leaves equal records alone", () => {
    const next = new Map([
      [containerUuid(1), queuedContainer(1)],
      [containerUuid(2), queuedContainer(2, { priority: 9n })],
      [containerUuid(4), queuedContainer(4)],
    ]);
    const plan = planWrites(cached, { next, deleted: new Set(), requests: 0 });
    expect(plan.insert.map((c) => c.uuid)).toEqual([containerUuid(4)]);
    expect(plan.replace.map((c) => c.uuid)).toEqual([containerUuid(2)]);
    expect(plan.remove).toEqual([containerUuid(3)]);
  });

  it("sees no change when only the key order of nested maps differs (as DynamoDB returns them)", () => {
    const c = queuedContainer(1);
    const reordered = { ...c, runtime_constraints: { gpu: c.runtime_constraints.gpu, vcpus: 1, ram: c.runtime_constraints.ram, keep_cache_disk: 0, keep_cache_ram: 0 } };
    const plan = planWrites(new Map([[c.uuid, queueEntry(1)]]), { next: new Map([[c.uuid, reordered]]), deleted: new Set(), requests: 0 });
    expect(plan.replace).toEqual([]);
  });
});

describe("the QueueEntries metric (§1.10)", () => {
  it("counts by state and cheapest type, and an entry without types counts under 'none' instead of crashing", () => {
    const typed = queueEntry(1, { state: "Locked" }, { instanceTypes: ["m5.large", "m5.xlarge"] });
    const counts = countEntriesByStateAndType([typed, queueEntry(2), queueEntry(3), queueEntry(4, {}, { instanceTypes: [] })]);
    expect(counts).toEqual([
      { state: "Locked", instanceType: "m5.large", count: 1 },
      { state: "Queued", instanceType: noInstanceType, count: 3 },
    ]);
  });
});
