import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { meterConsumedCapacity } from "../../local/consumed-capacity.js";
import { GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { marshallOptions } from "../../lib/store/item-codec.js";
import { QueueStore } from "../../lib/store/queue-store.js";
import { maxPriority } from "../../lib/model/container.js";
import { freshQueueTable, localDynamoDb, streamNewImages } from "../support/dynamodb.js";
import {
  containerPriority,
  containerUuid,
  createdAt,
  instanceType,
  queueEntry,
  queuedContainer,
} from "../support/fixtures.js";

const ddb = localDynamoDb();
const usage = meterConsumedCapacity(ddb);
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
    expect(await store.insertNew(queueEntry(1, { priority: 99n }))).toBe(false);
    expect((await store.get(containerUuid(1)))?.container.priority).toBe(queuedContainer(1).priority);
  });
});

describe("forget (§1.4)", () => {
  const cases = [
    { name: "deletes a Complete entry", container: { state: "Complete" as const }, deleted: true },
    { name: "deletes a Cancelled entry", container: { state: "Cancelled" as const }, deleted: true },
    {
      name: "deletes a Queued entry with priority 0",
      container: { state: "Queued" as const, priority: 0n },
      deleted: true,
    },
    {
      name: "keeps a Queued entry with priority > 0",
      container: { state: "Queued" as const, priority: 5n },
      deleted: false,
    },
    {
      name: "keeps a Locked entry with priority 0",
      container: { state: "Locked" as const, priority: 0n },
      deleted: false,
    },
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
      { uuid: containerUuid(200), state: "Locked", priority: 1n, locked_by_uuid: "zzzzz-gj3su-000000000000000" },
      new Date("2026-01-01T00:00:11.000Z"),
    );
    const applied = await store.replacePolled(queuedContainer(200, { priority: 7n }), pollStarted.toISOString(), 0);
    expect(applied).toBe(false);
    expect((await store.get(containerUuid(200)))?.container).toMatchObject({ state: "Locked", priority: 1n });
    expect(await store.deleteAbsent(containerUuid(200), pollStarted.toISOString())).toBe(false);
  });

  it("applies a polled record when the local change is older than the poll", async () => {
    const applied = await store.replacePolled(
      queuedContainer(200, { state: "Running", priority: 3n }),
      "2026-01-01T00:00:12.000Z",
      0,
    );
    expect(applied).toBe(true);
    const entry = await store.get(containerUuid(200));
    expect(entry?.container).toMatchObject({ state: "Running", priority: 3n });
    expect(entry?.version).toBe(3);
  });
});

describe("lock/unlock/cancel replies (§1.9)", () => {
  it("copy only state, priority and locked_by_uuid into a cached entry", async () => {
    await store.insertNew(queueEntry(300, { runtime_constraints: queuedContainer(0).runtime_constraints }));
    const after = await store.applyStateChange(
      { uuid: containerUuid(300), state: "Locked", priority: 9n, locked_by_uuid: "zzzzz-gj3su-000000000000000" },
      new Date("2026-01-01T00:01:00.000Z"),
    );
    expect(after?.container).toEqual({
      ...queuedContainer(300),
      state: "Locked",
      priority: 9n,
      locked_by_uuid: "zzzzz-gj3su-000000000000000",
    });
    expect(after?.localChangeAt).toBe("2026-01-01T00:01:00.000Z");
  });

  it("never add an entry for a container that is not cached", async () => {
    const after = await store.applyStateChange(
      { uuid: containerUuid(301), state: "Locked", priority: 9n, locked_by_uuid: null },
      new Date(),
    );
    expect(after).toBeUndefined();
    expect(await store.get(containerUuid(301))).toBeUndefined();
  });
});

describe("instance types are chosen once (§1.8)", () => {
  const decision = {
    needed: { VCPUs: 1, RAM: 1, Scratch: 1, GPUs: 0, GPUVRAM: 0 },
    maxPrice: 1,
    chosen: [],
    rejected: [],
  };
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

  it("stores the types by name, cheapest first", async () => {
    await store.insertNew(queueEntry(402));
    await store.setInstanceTypes(containerUuid(402), ["m5.large", "m5.xlarge"], decision.needed, decision);
    const { Item } = await ddb.send(
      new GetItemCommand({ TableName: table.tableName, Key: { uuid: { S: containerUuid(402) } } }),
    );
    expect(Item?.instanceTypes).toEqual({ L: [{ S: "m5.large" }, { S: "m5.xlarge" }] });
  });

  it("reads an entry written with whole type objects (before names) as their names", async () => {
    const old = {
      ...queueEntry(403),
      instanceTypes: [instanceType(2, { Name: "m5.large" }), instanceType(3, { Name: "m5.xlarge" })],
    };
    await ddb.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: marshall({ uuid: containerUuid(403), ...old }, marshallOptions),
      }),
    );
    expect((await store.get(containerUuid(403)))?.instanceTypes).toEqual(["m5.large", "m5.xlarge"]);
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

describe("a launch intent: one lock has one RunInstances call in flight", () => {
  const intent = (attempt: number, clientToken: string) => ({
    attempt,
    instanceType: "small",
    subnetId: "subnet-a",
    clientToken,
    writtenAt: "2026-01-01T00:00:00.000Z",
  });
  /** A Locked entry claimed by `owner`. */
  async function claimed(n: number, owner = "me"): Promise<string> {
    await store.insertNew(queueEntry(n, { state: "Locked" }));
    expect(await store.claimEntry(containerUuid(n), owner, 1_000, 60_000)).toBe(true);
    return containerUuid(n);
  }
  const refused = (p: Promise<void>) =>
    expect(p).rejects.toMatchObject({ name: "StaleEntryError", operation: "writeLaunchIntent" });

  it("is written by the claim holder and read back with the entry", async () => {
    const uuid = await claimed(600);
    await store.writeLaunchIntent(uuid, "me", intent(2, "tok-a"));
    expect((await store.get(uuid))?.launchIntent).toEqual(intent(2, "tok-a"));
  });

  it("is refused to an invocation that does not hold the entry's claim", async () => {
    const uuid = await claimed(601, "other");
    await refused(store.writeLaunchIntent(uuid, "me", intent(2, "tok-a")));
    expect((await store.get(uuid))?.launchIntent).toBeUndefined();
  });

  it("is refused once an instance is recorded for the lock", async () => {
    const uuid = await claimed(602);
    await store.recordLaunch(uuid, {
      instanceId: "i-1",
      instanceType: "small",
      attempt: 2,
      launchedAt: "2026-01-01T00:00:00.000Z",
    });
    await store.claimEntry(uuid, "me", 2_000, 60_000);
    await refused(store.writeLaunchIntent(uuid, "me", intent(2, "tok-a")));
    await store.writeLaunchIntent(uuid, "me", intent(3, "tok-next-lock"));
  });

  it("is refused for another call while a call of the same lock is open, and rewritten for the same call", async () => {
    const uuid = await claimed(603);
    await store.writeLaunchIntent(uuid, "me", intent(2, "tok-a"));
    await refused(store.writeLaunchIntent(uuid, "me", intent(2, "tok-b")));
    await store.writeLaunchIntent(uuid, "me", intent(2, "tok-a"));
    expect((await store.get(uuid))?.launchIntent?.clientToken).toBe("tok-a");
  });

  it("replaces the intent of the failed call it follows (the next subnet), and an intent of an older lock", async () => {
    const uuid = await claimed(604);
    await store.writeLaunchIntent(uuid, "me", intent(2, "tok-a"));
    await store.writeLaunchIntent(uuid, "me", intent(2, "tok-b"), "tok-a");
    expect((await store.get(uuid))?.launchIntent?.clientToken).toBe("tok-b");
    await store.writeLaunchIntent(uuid, "me", intent(3, "tok-c"));
    expect((await store.get(uuid))?.launchIntent).toEqual(intent(3, "tok-c"));
  });

  it("is removed only for the call named, by the claim holder", async () => {
    const uuid = await claimed(605);
    await store.writeLaunchIntent(uuid, "me", intent(2, "tok-a"));
    expect(await store.clearLaunchIntent(uuid, "me", "tok-b")).toBe(false);
    expect(await store.clearLaunchIntent(uuid, "other", "tok-a")).toBe(false);
    expect(await store.clearLaunchIntent(uuid, "me", "tok-a")).toBe(true);
    expect((await store.get(uuid))?.launchIntent).toBeUndefined();
  });

  it("is replaced by the launch record in one write", async () => {
    const uuid = await claimed(606);
    await store.writeLaunchIntent(uuid, "me", intent(2, "tok-a"));
    const launch = { instanceId: "i-2", instanceType: "small", attempt: 2, launchedAt: "2026-01-01T00:00:01.000Z" };
    const writes = usage.writes;
    await store.recordLaunch(uuid, launch);
    expect(usage.writes - writes).toBe(1);
    const entry = await store.get(uuid);
    expect({ launch: entry?.launch, intent: entry?.launchIntent }).toEqual({ launch, intent: undefined });
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

describe("priorities are stored exactly: DynamoDB numbers hold 38 digits (§5.6)", () => {
  const P = containerPriority(500, createdAt(900));
  const cases = [
    ["a real cluster's priority", P],
    ["its neighbour, one below", P - 1n],
    ["2^53 + 1, which a double cannot hold", 2n ** 53n + 1n],
    ["the int64 maximum", maxPriority],
    ["0", 0n],
  ] as const;

  it.each(cases)("reads back %s unchanged, as a bigint", async (_name, priority) => {
    const uuid = containerUuid(900 + cases.findIndex(([, p]) => p === priority));
    const entry = { ...queueEntry(900), container: { ...queuedContainer(900, { priority }), uuid } };
    await store.insertNew(entry);
    expect((await store.get(uuid))?.container.priority).toBe(priority);
    expect((await store.scan()).entries.get(uuid)?.container.priority).toBe(priority);
  });

  it("writes the exact digits into the stream image", async () => {
    const uuid = containerUuid(950);
    await store.insertNew(queueEntry(950, { uuid, priority: P + 1n }));
    const images = await streamNewImages(table.streamArn);
    const image = images.find((i) => i.uuid?.S === uuid);
    expect(image?.container?.M?.priority).toEqual({ N: String(P + 1n) });
  });

  it("applies a lock reply's exact priority", async () => {
    const uuid = containerUuid(960);
    await store.insertNew(queueEntry(960, { uuid }));
    await store.applyStateChange(
      { uuid, state: "Locked", priority: maxPriority - 1n, locked_by_uuid: null },
      new Date(),
    );
    expect((await store.get(uuid))?.container.priority).toBe(maxPriority - 1n);
  });

  it("keeps an int64 size past 2^53 (as its nearest double) instead of refusing the write", async () => {
    const uuid = containerUuid(970);
    const container = queuedContainer(970, { uuid });
    container.runtime_constraints = { ...container.runtime_constraints, ram: 2 ** 62, keep_cache_disk: 2 ** 63 };
    expect(await store.insertNew({ ...queueEntry(970), container })).toBe(true);
    const read = await store.get(uuid);
    expect(read?.container.runtime_constraints.ram).toBe(2 ** 62);
    expect(read?.container.runtime_constraints.keep_cache_disk).toBe(2 ** 63);
  });
});

describe("a scheduling status is stored only when it changes, and changes nothing else (§3.3)", () => {
  const waiting =
    "Waiting in queue at position 3.  Cluster is at capacity and cannot start any new instances right now.";
  const booting = "Waiting for a m5.large instance to boot and be ready to accept work.";

  it("is written once, and a second write of the same status is a no-op that costs nothing but the condition", async () => {
    const uuid = containerUuid(1000);
    await store.insertNew(queueEntry(1000));
    expect(await store.setSchedulingStatus(uuid, waiting)).toBe(true);
    expect(await store.setSchedulingStatus(uuid, waiting)).toBe(false);
    expect((await store.get(uuid))?.schedulingStatus).toBe(waiting);
    expect(await store.setSchedulingStatus(uuid, booting)).toBe(true);
    expect((await store.get(uuid))?.schedulingStatus).toBe(booting);
  });

  it("leaves every other field of the entry as it was, version included", async () => {
    const uuid = containerUuid(1001);
    const launchIntent = {
      attempt: 1,
      instanceType: "small",
      clientToken: "tok",
      writtenAt: "2026-01-01T00:00:00.000Z",
    };
    const entry = queueEntry(
      1001,
      { state: "Locked" },
      { launchIntent, localChangeAt: "2026-01-01T00:00:00.000Z", version: 7 },
    );
    await store.insertNew(entry);
    await store.setSchedulingStatus(uuid, booting);
    expect(await store.get(uuid)).toEqual({ ...entry, schedulingStatus: booting });
  });

  it("is not written to an entry that is not waiting, or to an absent one", async () => {
    await store.insertNew(queueEntry(1002, { state: "Running" }));
    expect(await store.setSchedulingStatus(containerUuid(1002), booting)).toBe(false);
    expect((await store.get(containerUuid(1002)))?.schedulingStatus).toBeUndefined();
    expect(await store.setSchedulingStatus(containerUuid(1003), booting)).toBe(false);
    expect(await store.get(containerUuid(1003))).toBeUndefined();
  });

  it("marks the item as changed by its status alone until any other write, which keeps the status", async () => {
    const uuid = containerUuid(1004);
    await store.insertNew(queueEntry(1004));
    await store.setSchedulingStatus(uuid, waiting);
    expect((await store.getMetaItem(uuid))?.statusOnly).toBe(true);
    await store.replacePolled(queuedContainer(1004, { priority: 5n }), "2026-01-01T00:00:00.000Z", 0);
    const raw = await store.getMetaItem(uuid);
    expect(raw?.statusOnly).toBeUndefined();
    expect(raw?.schedulingStatus).toBe(waiting);
  });
});
