import { randomUUID } from "node:crypto";
import { UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { afterEach, describe, expect, it } from "vitest";
import { runCleanupPass } from "../../lib/cleanup/cleanup-pass.js";
import { runLaunchPass } from "../../lib/launch/launch-pass.js";
import { cleanupLiveFor } from "../../lib/runtime/live-entries.js";
import { ActiveEntriesStore } from "../../lib/store/active-entries.js";
import { QueueIndexStore } from "../../lib/store/queue-index.js";
import { Queue } from "../../lib/queue/queue.js";
import { meterConsumedCapacity } from "../../local/consumed-capacity.js";
import { type DispatchHarness, dispatchHarness } from "../support/dispatch.js";
import { localDynamoDb } from "../support/dynamodb.js";
import { queueEntry } from "../support/fixtures.js";

let h: DispatchHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const plenty = () => 60_000;

/** The `active` index reader on a client of its own, metered: what a pass's entry reads cost. */
function metered(harness: DispatchHarness) {
  const ddb = localDynamoDb();
  const usage = meterConsumedCapacity(ddb);
  return { active: new ActiveEntriesStore(ddb, harness.tableName), usage, ddb };
}

/** `n` finished entries, as the store writes them (a finished container carries no `active` mark). */
async function finished(harness: DispatchHarness, n: number, from = 10_000): Promise<void> {
  for (let i = 0; i < n; i++) {
    expect(
      await harness.store.insertNew(queueEntry(from + i, { state: "Complete" }, { instanceTypes: ["small"] })),
    ).toBe(true);
  }
}

describe("a launch pass reads what grows with the work, not with the table (the `active` index, no scan)", () => {
  it("its entry reads do not grow with finished entries, where a scan's do", async () => {
    h = await dispatchHarness();
    for (let i = 0; i < 3; i++)
      h.sim.addContainer({ state: "Queued", priority: 10 + i, runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
    await h.refresh();
    const { active, usage } = metered(h);
    const pass = () =>
      runLaunchPass({ ...h!.launchDeps(), live: { entries: active, writes: active, fresher: [] } }, plenty);
    expect((await pass()).launched).toHaveLength(3);
    const before = usage.readCapacityUnits;
    await pass();
    const steady = usage.readCapacityUnits - before;

    await finished(h, 300);
    const again = usage.readCapacityUnits;
    const report = await pass();
    expect(report.ran).toBe(true);
    // The same three live entries (and the passes' recent writes, read consistently): 300
    // finished entries of about 500 bytes each add nothing.
    expect(usage.readCapacityUnits - again).toBe(steady);
    // A scan of the same table reads them all.
    const scanBefore = h.usage.readCapacityUnits;
    await h.store.scan();
    expect(h.usage.readCapacityUnits - scanBefore).toBeGreaterThan(steady + 20);
  });

  it("a pass counts the entries earlier passes wrote from consistent reads (its lease release keeps them)", async () => {
    h = await dispatchHarness();
    const [c] = [
      h.sim.addContainer({ state: "Queued", priority: 10, runtime_constraints: { ram: 2 ** 30, vcpus: 1 } }),
    ];
    await h.refresh();
    const { active } = metered(h);
    await runLaunchPass({ ...h.launchDeps(), live: { entries: active, writes: active, fresher: [] } }, plenty);
    const recent = await active.recent();
    expect(Object.keys(recent)).toEqual([c?.uuid]);
    // No lease is left behind with the list.
    expect((await h.store.getMetaItem("#launch-pass"))?.leaseOwner).toBeUndefined();
  });

  it("finished containers leave the index: their final write removes the mark", async () => {
    h = await dispatchHarness();
    const c = h.sim.addContainer({ state: "Queued", priority: 10, runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
    await h.refresh();
    const { active } = metered(h);
    expect([...(await active.query()).keys()]).toEqual([c.uuid]);
    await h.queue.cancel(c.uuid);
    expect([...(await active.query()).keys()]).toEqual([]);
    // A typeDecision is not projected (neither pass reads it); everything else is.
    const whole = await h.store.get(c.uuid);
    expect(whole?.container.state).toBe("Cancelled");
  });

  it("the index's copy of an entry is the entry, but for its type decision", async () => {
    h = await dispatchHarness();
    const c = h.sim.addContainer({ state: "Queued", priority: 10, runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
    await h.refresh();
    const { active } = metered(h);
    const { typeDecision, ...rest } = (await h.store.get(c.uuid)) ?? { typeDecision: undefined };
    expect(typeDecision).toBeDefined();
    expect((await active.query()).get(c.uuid)).toEqual(rest);
  });
});

describe("cleanup reads the live entries and the queue index, not the table", () => {
  it("forgets the finished containers the index holds, reading far less than a scan", async () => {
    h = await dispatchHarness();
    const queue = new Queue(h.api, h.store, {
      leaseOwner: randomUUID(),
      leaseMs: 60_000,
      index: new QueueIndexStore(localDynamoDb(), h.tableName),
    });
    const done = Array.from({ length: 40 }, (_, i) =>
      h!.sim.addContainer({ state: "Running", locked_by_uuid: h!.sim.rootTokenUuid, priority: 10 + i }),
    );
    await queue.update();
    for (const c of done) h.sim.finishContainer(c.uuid, "Complete");
    await queue.update();
    const { active, usage, ddb } = metered(h);
    // What the scan cleanup used to make reads, on this very table.
    const scanBefore = h.usage.readCapacityUnits;
    await h.store.scan();
    const scanned = h.usage.readCapacityUnits - scanBefore;
    const live = cleanupLiveFor({ ddb, store: h.store }, active);
    const before = usage.readCapacityUnits + h.usage.readCapacityUnits;
    const report = await runCleanupPass({ ...h.cleanupDeps(), live });
    const read = usage.readCapacityUnits + h.usage.readCapacityUnits - before;
    expect(report.forgotten).toBe(40);
    expect((await h.store.scan()).entries.size).toBe(0);
    expect(read).toBeLessThan(scanned / 2);
  });
});

describe("an upgrade marks the live entries an older version wrote", () => {
  it("an update that scans rewrites a live entry without the `active` mark, so launch and cleanup see it", async () => {
    h = await dispatchHarness();
    const c = h.sim.addContainer({ state: "Queued", priority: 10, runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
    await h.refresh();
    const ddb = localDynamoDb();
    // As an older version left it: no mark, and (a crash) no whole index either.
    await ddb.send(
      new UpdateItemCommand({
        TableName: h.tableName,
        Key: { uuid: { S: c.uuid } },
        UpdateExpression: "REMOVE active",
      }),
    );
    const { active } = metered(h);
    expect((await active.query()).size).toBe(0);
    const report = await h.queue.update();
    expect(report.replaced).toBe(1);
    expect([...(await active.query()).keys()]).toEqual([c.uuid]);
  });
});
