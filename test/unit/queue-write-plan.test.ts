import { describe, expect, it } from "vitest";
import { countEntriesByStateAndType, noInstanceType } from "../../lib/queue/entry-counts.js";
import { planWritesFromIndex, viewOfEntries } from "../../lib/queue/cache-view.js";
import { planWrites } from "../../lib/queue/write-plan.js";
import { fingerprint } from "../../lib/model/queue-index.js";
import { decodeShard, encodeShard, shardCountFor, shardOf } from "../../lib/store/queue-index.js";
import { containerUuid, queueEntry, queuedContainer } from "../support/fixtures.js";

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
    const reordered = {
      ...c,
      runtime_constraints: {
        gpu: c.runtime_constraints.gpu,
        vcpus: 1,
        ram: c.runtime_constraints.ram,
        keep_cache_disk: 0,
        keep_cache_ram: 0,
      },
    };
    const plan = planWrites(new Map([[c.uuid, queueEntry(1)]]), {
      next: new Map([[c.uuid, reordered]]),
      deleted: new Set(),
      requests: 0,
    });
    expect(plan.replace).toEqual([]);
  });
});

describe("the QueueEntries metric (§1.10)", () => {
  it("counts by state and cheapest type, and an entry without types counts under 'none' instead of crashing", () => {
    const typed = queueEntry(1, { state: "Locked" }, { instanceTypes: ["m5.large", "m5.xlarge"] });
    const counts = countEntriesByStateAndType([
      typed,
      queueEntry(2),
      queueEntry(3),
      queueEntry(4, {}, { instanceTypes: [] }),
    ]);
    expect(counts).toEqual([
      { state: "Locked", instanceType: "m5.large", count: 1 },
      { state: "Queued", instanceType: noInstanceType, count: 3 },
    ]);
  });
});

describe("planWritesFromIndex: a steady update compares fingerprints, not whole entries (§1.5)", () => {
  const cached = new Map([
    [containerUuid(1), queueEntry(1)],
    [containerUuid(2), queueEntry(2)],
    [containerUuid(3), queueEntry(3)],
  ]);
  const next = new Map([
    [containerUuid(1), queuedContainer(1)],
    [containerUuid(2), queuedContainer(2, { priority: 9n })],
    [containerUuid(4), queuedContainer(4)],
  ]);

  it("plans exactly what planWrites plans from the scanned entries", () => {
    const poll = { next, deleted: new Set<string>(), requests: 0 };
    expect(planWritesFromIndex(viewOfEntries(cached).index, poll)).toEqual(planWrites(cached, poll));
  });

  it("rewrites an entry whose fingerprint is unknown", () => {
    const index = viewOfEntries(cached).index;
    index.set(containerUuid(1), { state: "Queued", fingerprint: "" });
    const plan = planWritesFromIndex(index, { next, deleted: new Set(), requests: 0 });
    expect(plan.replace.map((c) => c.uuid).sort()).toEqual([containerUuid(1), containerUuid(2)]);
  });
});

describe("the queue index codec", () => {
  it("gives equal records equal fingerprints whatever their key order, and a changed priority another", () => {
    const c = queuedContainer(1);
    const reordered = {
      ...c,
      runtime_constraints: {
        gpu: c.runtime_constraints.gpu,
        vcpus: c.runtime_constraints.vcpus,
        ram: c.runtime_constraints.ram,
        keep_cache_disk: c.runtime_constraints.keep_cache_disk,
        keep_cache_ram: c.runtime_constraints.keep_cache_ram,
      },
    };
    expect(fingerprint(reordered)).toBe(fingerprint(c));
    // §5.6: priorities one unit apart are different records.
    expect(fingerprint({ ...c, priority: c.priority + 1n })).not.toBe(fingerprint(c));
  });

  it("round-trips a shard with its common uuid prefix stored once", () => {
    const records = [1, 2, 3].map(
      (i) =>
        [
          containerUuid(i),
          { state: i === 2 ? "Locked" : "Queued", fingerprint: fingerprint(queuedContainer(i)) },
        ] as const,
    );
    const packed = encodeShard(records);
    expect(packed.prefix.length).toBeGreaterThan(11);
    expect(decodeShard(packed.prefix, packed.body)).toEqual(records.map(([u, r]) => [u, r]));
    expect(decodeShard("", "")).toEqual([]);
    expect(decodeShard("", "garbage")).toBeUndefined();
  });

  it("packs 11,000 entries in few enough shards for a steady update to read under 150 RCU", () => {
    const shards = shardCountFor(11_000);
    const records = Array.from(
      { length: 11_000 },
      (_, i) => [containerUuid(i), { state: "Running" as const, fingerprint: "abcdefghijk" }] as const,
    );
    const groups: (typeof records)[number][][] = Array.from({ length: shards }, () => []);
    for (const r of records) groups[shardOf(r[0], shards)]?.push(r);
    // A consistent read costs 1 RCU per 4 KB of each item, rounded up per item.
    const rcu = groups
      .map((g) => encodeShard(g))
      .reduce((sum, p) => sum + Math.ceil((p.prefix.length + p.body.length + 40) / 4096), 0);
    expect(rcu).toBeLessThanOrEqual(149);
  });
});
