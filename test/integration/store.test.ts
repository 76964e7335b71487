import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QueueStore } from "../../lib/store/queue-store.js";
import { freshQueueTable, localDynamoDb } from "../support/dynamodb.js";
import { containerUuid, queueEntry, queuedContainer } from "../support/fixtures.js";

const ddb = localDynamoDb();
let table: Awaited<ReturnType<typeof freshQueueTable>>;
let store: QueueStore;

beforeAll(async () => {
  table = await freshQueueTable(ddb);
  store = new QueueStore(ddb, table.tableName);
});
afterAll(async () => {
  await table.drop();
});

describe("insert", () => {
  it("stores a new entry and reads it back unchanged", async () => {
    const entry = queueEntry(1);
    expect(await store.insertNew(entry)).toBe(true);
    expect(await store.get(containerUuid(1))).toEqual(entry);
  });

  it("never overwrites an existing entry", async () => {
    expect(await store.insertNew(queueEntry(1, { priority: 99 }))).toBe(false);
    expect((await store.get(containerUuid(1)))?.container.priority).toBe(1);
  });
});

describe("forget (§1.4)", () => {
  const cases = [
    { name: "deletes a Complete entry", container: { state: "Complete" as const }, deleted: true },
    { name: "deletes a Cancelled entry", container: { state: "Cancelled" as const }, deleted: true },
    { name: "deletes a Queued entry with priority 0", container: { state: "Queued" as const, priority: 0 }, deleted: true },
    { name: "keeps a Queued entry with priority > 0", container: { state: "Queued" as const, priority: 5 }, deleted: false },
    { name: "keeps a Locked entry with priority 0", container: { state: "Locked" as const, priority: 0 }, deleted: false },
    { name: "keeps a Running entry", container: { state: "Running" as const }, deleted: false },
  ];
  cases.forEach((c, i) => {
    it(c.name, async () => {
      const n = 100 + i;
      await store.insertNew(queueEntry(n, c.container));
      expect(await store.forget(containerUuid(n))).toBe(c.deleted);
      expect((await store.get(containerUuid(n))) === undefined).toBe(c.deleted);
    });
  });

  it("is a no-op for an absent uuid", async () => {
    expect(await store.forget(containerUuid(199))).toBe(false);
  });
});

describe("a local change during an update wins (upstream dontupdate)", () => {
  it("skips a polled record when the entry changed locally after the poll started", async () => {
    await store.insertNew(queueEntry(200));
    const pollStarted = new Date("2026-01-01T00:00:10.000Z");
    await store.applyStateChange(
      { uuid: containerUuid(200), state: "Locked", priority: 1, locked_by_uuid: "zzzzz-gj3su-000000000000000" },
      new Date("2026-01-01T00:00:11.000Z"),
    );
    const applied = await store.replacePolled(queuedContainer(200, { priority: 7 }), pollStarted.toISOString(), 0);
    expect(applied).toBe(false);
    expect((await store.get(containerUuid(200)))?.container).toMatchObject({ state: "Locked", priority: 1 });
    expect(await store.deleteAbsent(containerUuid(200), pollStarted.toISOString())).toBe(false);
  });

  it("applies a polled record when the local change is older than the poll", async () => {
    const applied = await store.replacePolled(
      queuedContainer(200, { state: "Running", priority: 3 }),
      "2026-01-01T00:00:12.000Z",
      0,
    );
    expect(applied).toBe(true);
    const entry = await store.get(containerUuid(200));
    expect(entry?.container).toMatchObject({ state: "Running", priority: 3 });
    expect(entry?.version).toBe(3);
  });
});

describe("lock/unlock/cancel replies (§1.9)", () => {
  it("copy only state, priority and locked_by_uuid into a cached entry", async () => {
    await store.insertNew(queueEntry(300, { runtime_constraints: queuedContainer(0).runtime_constraints }));
    const after = await store.applyStateChange(
      { uuid: containerUuid(300), state: "Locked", priority: 9, locked_by_uuid: "zzzzz-gj3su-000000000000000" },
      new Date("2026-01-01T00:01:00.000Z"),
    );
    expect(after?.container).toEqual({
      ...queuedContainer(300),
      state: "Locked",
      priority: 9,
      locked_by_uuid: "zzzzz-gj3su-000000000000000",
    });
    expect(after?.localChangeAt).toBe("2026-01-01T00:01:00.000Z");
  });

  it("never add an entry for a container that is not cached", async () => {
    const after = await store.applyStateChange(
      { uuid: containerUuid(301), state: "Locked", priority: 9, locked_by_uuid: null },
      new Date(),
    );
    expect(after).toBeUndefined();
    expect(await store.get(containerUuid(301))).toBeUndefined();
  });
});

describe("instance types are chosen once (§1.8)", () => {
  const decision = { needed: { VCPUs: 1, RAM: 1, Scratch: 1, GPUs: 0, GPUVRAM: 0 }, maxPrice: 1, chosen: [], rejected: [] };
  it("records types on an entry without them, and refuses a second write", async () => {
    await store.insertNew(queueEntry(400));
    const resources = decision.needed;
    expect(await store.setInstanceTypes(containerUuid(400), [], resources, decision)).toBe(true);
    expect(await store.setInstanceTypes(containerUuid(400), [], resources, { ...decision, maxPrice: 2 })).toBe(false);
    expect((await store.get(containerUuid(400)))?.typeDecision?.maxPrice).toBe(1);
  });

  it("does not create an entry that was removed meanwhile", async () => {
    expect(await store.setInstanceTypes(containerUuid(401), [], decision.needed, decision)).toBe(false);
    expect(await store.get(containerUuid(401))).toBeUndefined();
  });
});

describe("the update lease and the threshold", () => {
  it("lets one owner hold the lease until it expires or is released", async () => {
    expect(await store.acquireUpdateLease("a", 1_000, 60_000)).toBe(true);
    expect(await store.acquireUpdateLease("b", 2_000, 60_000)).toBe(false);
    expect(await store.acquireUpdateLease("a", 3_000, 60_000)).toBe(true);
    expect(await store.acquireUpdateLease("b", 63_001, 60_000)).toBe(true);
    expect(await store.releaseUpdateLease("a")).toBe(false);
    expect(await store.releaseUpdateLease("b")).toBe(true);
  });

  it("moves the threshold only forward and only for the lease holder", async () => {
    expect(await store.acquireUpdateLease("c", 100_000, 60_000)).toBe(true);
    expect(await store.setThreshold("d", "2026-01-01T00:00:05.000Z", "tok")).toBe(false);
    expect(await store.setThreshold("c", "2026-01-01T00:00:05.000Z", "tok")).toBe(true);
    expect(await store.setThreshold("c", "2026-01-01T00:00:04.000Z", "tok")).toBe(false);
    expect((await store.meta()).threshold).toBe("2026-01-01T00:00:05.000Z");
  });
});

describe("finished entries expire as a backstop to cleanup", () => {
  it("sets expiresAt when a reply or a poll finalizes the container", async () => {
    await store.insertNew(queueEntry(500, { state: "Running" }));
    await store.replacePolled(queuedContainer(500, { state: "Complete" }), "2026-01-01T00:00:00.000Z", 1_000_000);
    const { metaItems, entries } = await store.scan();
    expect(entries.has(containerUuid(500))).toBe(true);
    expect(metaItems.has(containerUuid(500))).toBe(false);
    const raw = await store.getMetaItem(containerUuid(500));
    expect(raw?.expiresAt).toBe(1_000 + 24 * 3600);
  });
});
