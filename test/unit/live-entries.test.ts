import { describe, expect, it } from "vitest";
import { verifyPlan } from "../../lib/cleanup/live-entries.js";
import { keepRecent, mergeFresher, readLiveEntries, recentWritesMs } from "../../lib/launch/live-entries.js";
import type { ActiveEntries, LaunchWrites } from "../../lib/model/active-entries.js";
import type { QueueEntry } from "../../lib/model/entry.js";
import { ReconcileReason, type ReconcilePlan } from "../../lib/scheduler/plan-reconcile.js";
import { queueEntry } from "../support/fixtures.js";

const byUuid = (...entries: QueueEntry[]) => new Map(entries.map((e) => [e.container.uuid, e]));

/** A recording fake of the index port: what the index shows, and what a consistent read finds. */
function fakeIndex(shown: QueueEntry[], stored: QueueEntry[]): ActiveEntries & { consistentReads: string[][] } {
  const consistentReads: string[][] = [];
  return {
    consistentReads,
    query: async () => byUuid(...shown),
    getConsistent: async (uuids) => {
      consistentReads.push([...uuids]);
      return byUuid(...stored.filter((e) => uuids.includes(e.container.uuid)));
    },
  };
}
const writes = (recent: Record<string, number>): LaunchWrites => ({
  recent: async () => recent,
  release: async () => true,
});

describe("a launch pass's live entries: the index, made exact where it matters", () => {
  it("a stream image newer than the index's copy wins; an older one (a late batch) does not", () => {
    const indexed = byUuid(queueEntry(1, {}, { version: 3 }), queueEntry(2, {}, { version: 3 }));
    const merged = mergeFresher(indexed, [
      queueEntry(1, { state: "Locked" }, { version: 4 }),
      queueEntry(2, { state: "Locked" }, { version: 2 }),
      queueEntry(3, {}, { version: 1 }),
    ]);
    expect(merged.get(queueEntry(1).container.uuid)?.container.state).toBe("Locked");
    expect(merged.get(queueEntry(2).container.uuid)?.container.state).toBe("Queued");
    // Not in the index yet (it lags): the record that woke the pass brings it.
    expect(merged.has(queueEntry(3).container.uuid)).toBe(true);
  });

  it("a newer image of a finished container drops it", () => {
    const merged = mergeFresher(byUuid(queueEntry(1, {}, { version: 1 })), [
      queueEntry(1, { state: "Cancelled" }, { version: 2 }),
    ]);
    expect(merged.size).toBe(0);
  });

  it("what passes wrote lately is read consistently over the index's copy, and dropped once gone", async () => {
    const now = 1_000_000;
    const launched = queueEntry(
      1,
      { state: "Locked" },
      { version: 5, launch: { instanceId: "i-1", instanceType: "small", attempt: 1, launchedAt: "x" } },
    );
    const index = fakeIndex([queueEntry(1, {}, { version: 2 }), queueEntry(2, {}, { version: 1 })], [launched]);
    const uuid1 = launched.container.uuid;
    const uuid2 = queueEntry(2).container.uuid;
    const old = queueEntry(3).container.uuid;
    const { entries, recent } = await readLiveEntries(
      {
        entries: index,
        writes: writes({ [uuid1]: now - 1_000, [uuid2]: now - 2_000, [old]: now - recentWritesMs - 1 }),
        fresher: [],
      },
      now,
    );
    expect(index.consistentReads).toEqual([[uuid1, uuid2]]);
    expect(entries.get(uuid1)).toEqual(launched);
    // uuid2 is gone from the table (forgotten): the index's copy is not planned from.
    expect(entries.has(uuid2)).toBe(false);
    expect(Object.keys(recent)).toEqual([uuid1, uuid2]);
    expect(keepRecent({ a: now - recentWritesMs }, now)).toEqual({});
  });
});

describe("cleanup acts only on entries read again as the index showed them", () => {
  const plan = (uuids: { unlock?: string; cancel?: string }): ReconcilePlan => ({
    forget: [],
    cancel: uuids.cancel === undefined ? [] : [{ uuid: uuids.cancel, reason: ReconcileReason.notRunning }],
    unlock: uuids.unlock === undefined ? [] : [{ uuid: uuids.unlock, reason: ReconcileReason.instanceGone }],
    terminate: [{ instanceId: "i-1", reason: ReconcileReason.finished }],
    verifyOrphan: [],
    foreign: [],
    held: [],
    kill: [],
  });

  it("an entry whose version moved since the index's copy waits for the next pass; an unchanged one is acted on", async () => {
    const a = queueEntry(1, { state: "Locked" }, { version: 3 });
    const b = queueEntry(
      2,
      { state: "Running" },
      { version: 7, launch: { instanceId: "i-1", instanceType: "small", attempt: 1, launchedAt: "x" } },
    );
    const index = fakeIndex([], [{ ...a, version: 4 }, b]);
    const live = { entries: index, cacheMeta: async () => undefined };
    const out = await verifyPlan(live, plan({ unlock: a.container.uuid, cancel: b.container.uuid }), byUuid(a, b), []);
    expect(out.unlock).toEqual([]);
    expect(out.cancel.map((c) => c.uuid)).toEqual([b.container.uuid]);
    // The instance of the unchanged entry b.
    expect(out.terminate.map((t) => t.instanceId)).toEqual(["i-1"]);
  });

  it("an entry gone from the table is not acted on", async () => {
    const a = queueEntry(1, { state: "Locked" }, { version: 3 });
    const out = await verifyPlan(
      { entries: fakeIndex([], []), cacheMeta: async () => undefined },
      plan({ unlock: a.container.uuid }),
      byUuid(a),
      [],
    );
    expect(out.unlock).toEqual([]);
  });
});
