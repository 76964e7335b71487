import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { Queue } from "../../lib/queue/queue.js";
import { QueueIndexStore } from "../../lib/store/queue-index.js";
import { TickStore } from "../../lib/store/tick-store.js";
import type { TickMessage, TickSender } from "../../lib/model/ticks.js";
import { runUpdateTick, type UpdateTickDeps } from "../../lib/ticks/update-tick.js";
import { type QueueHarness, queueHarness } from "../support/dispatch.js";
import { localDynamoDb } from "../support/dynamodb.js";

let h: QueueHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const pollIntervalMs = 10_000;
const plenty = () => 60_000;

/** A recording fake of the tick port: what would be on the queue, with its delay. */
class RecordingSender implements TickSender {
  readonly sent: { message: TickMessage; delayMs: number }[] = [];
  async send(message: TickMessage, delayMs: number): Promise<void> {
    this.sent.push({ message, delayMs });
  }
}

/** update-queue's tick deps on a fresh table and simulator, with the queue index, as the handler builds them. */
async function ticking(): Promise<{
  h: QueueHarness;
  deps: UpdateTickDeps & { sender: RecordingSender };
  queue: Queue;
  now: { t: number };
}> {
  h = await queueHarness();
  const ddb = localDynamoDb();
  const queue = new Queue(h.api, h.store, {
    leaseOwner: randomUUID(),
    leaseMs: 60_000,
    index: new QueueIndexStore(ddb, h.tableName),
  });
  const now = { t: Date.now() };
  const deps = {
    queue,
    chain: new TickStore(ddb, h.tableName),
    sender: new RecordingSender(),
    pollIntervalMs,
    now: () => now.t,
  };
  return { h, deps, queue, now };
}

describe("a poll every PollInterval with no Lambda billed for waiting (DESIGN: pay for work, not for waiting)", () => {
  it("a tick claims its generation, polls once (§1.5) and sends the next tick delayed by PollInterval", async () => {
    const { h, deps } = await ticking();
    const c = h.sim.addContainer({ state: "Queued" });
    const result = await runUpdateTick(deps, { kind: "tick", generation: 0 }, plenty);
    expect(result.outcome).toBe("updated");
    expect(await h.store.get(c.uuid)).toBeDefined();
    expect(deps.sender.sent).toEqual([{ message: { kind: "update-tick", generation: 1 }, delayMs: pollIntervalMs }]);
    expect((await h.store.meta()).threshold).toBeDefined();
  });

  it("a duplicate delivery of a tick dies at its claim: no poll, no second chain", async () => {
    const { h, deps } = await ticking();
    await runUpdateTick(deps, { kind: "tick", generation: 0 }, plenty);
    h.sim.clearRequests();
    const again = await runUpdateTick(deps, { kind: "tick", generation: 0 }, plenty);
    expect(again.outcome).toBe("stale");
    expect(h.sim.requests()).toEqual([]);
    expect(deps.sender.sent).toHaveLength(1);
  });

  it("an idle cluster's new container is polled by the next tick, within one PollInterval", async () => {
    const { h, deps } = await ticking();
    await runUpdateTick(deps, { kind: "tick", generation: 0 }, plenty);
    const c = h.sim.addContainer({ state: "Queued" });
    const next = deps.sender.sent.at(-1);
    expect(next?.delayMs).toBe(pollIntervalMs);
    await runUpdateTick(deps, { kind: "tick", generation: 1 }, plenty);
    expect((await h.store.get(c.uuid))?.container.state).toBe("Queued");
  });

  it("the watchdog leaves a live chain alone, and restarts one whose tick was lost; the lost tick, late, is then stale", async () => {
    const { deps, now } = await ticking();
    await runUpdateTick(deps, { kind: "tick", generation: 0 }, plenty);
    expect((await runUpdateTick(deps, { kind: "watchdog" }, plenty)).outcome).toBe("chainAlive");
    // The tick of generation 1 is lost: nothing claims before the chain's due time passes.
    now.t += 3 * pollIntervalMs;
    const restart = await runUpdateTick(deps, { kind: "watchdog" }, plenty);
    expect(restart).toMatchObject({ outcome: "updated", restarted: true });
    expect(deps.sender.sent.at(-1)?.message).toEqual({ kind: "update-tick", generation: 2 });
    expect((await runUpdateTick(deps, { kind: "tick", generation: 1 }, plenty)).outcome).toBe("stale");
    expect((await runUpdateTick(deps, { kind: "tick", generation: 2 }, plenty)).outcome).toBe("updated");
  });

  it("a failed update still sends the next tick: one Arvados error never breaks the chain", async () => {
    const { h, deps } = await ticking();
    h.sim.injectFault({ route: "GET /arvados/v1/containers", count: 10, effect: { kind: "status", status: 500 } });
    const result = await runUpdateTick(deps, { kind: "tick", generation: 0 }, plenty);
    expect(result.outcome).toBe("failed");
    expect(deps.sender.sent.map((s) => s.message)).toEqual([{ kind: "update-tick", generation: 1 }]);
    // The lease was given back: the next tick polls.
    h.sim.clearFaults();
    expect((await runUpdateTick(deps, { kind: "tick", generation: 1 }, plenty)).outcome).toBe("updated");
  });

  it("a tick that finds another update holding the lease claims without polling and keeps the chain going", async () => {
    const { h, deps } = await ticking();
    expect(await h.store.acquireUpdateLease("another-update", Date.now(), 60_000)).toBe(true);
    const result = await runUpdateTick(deps, { kind: "tick", generation: 0 }, plenty);
    expect(result.outcome).toBe("leaseHeld");
    expect(deps.sender.sent.map((s) => s.message)).toEqual([{ kind: "update-tick", generation: 1 }]);
  });
});

describe("a steady update reads the queue index, not the table (§1.5: reads grow with change)", () => {
  it("reads the index once it is whole, writes nothing when nothing changed, and consumes a few RCU", async () => {
    const { h, queue } = await ticking();
    for (let i = 0; i < 50; i++) h.sim.addContainer({ state: "Queued" });
    const first = await queue.update();
    expect(first.readIndex).toBe(false);
    expect(first.inserted).toBe(50);
    const before = h.usage.readCapacityUnits;
    const steady = await queue.update();
    expect(steady).toMatchObject({ readIndex: true, inserted: 0, replaced: 0, removed: 0, cached: 50 });
    // #queue (1) + one index shard (1): the table's 50 entries are not read.
    expect(h.usage.readCapacityUnits - before).toBeLessThanOrEqual(3);
  });

  it("a local change (lock) makes the next update rewrite that entry, and the one after is steady again", async () => {
    const { h, queue } = await ticking();
    const c = h.sim.addContainer({ state: "Queued" });
    await queue.update();
    await queue.lock(c.uuid);
    const next = await queue.update();
    expect(next.replaced).toBe(1);
    expect((await h.store.get(c.uuid))?.container.state).toBe("Locked");
    expect(await queue.update()).toMatchObject({ readIndex: true, replaced: 0 });
  });

  it("a lock cycle between two polls (unlock applied, the next lock's reply lost) is seen: lock_count moved (soak, seed 4242)", async () => {
    const { h, queue } = await ticking();
    const c = h.sim.addContainer({ state: "Queued" });
    await queue.update();
    await queue.lock(c.uuid);
    await queue.update();
    // Requeued (cleanup's unlock, applied to the entry), then locked again by a call whose reply
    // was lost: Arvados says Locked by us, as the index does, but the entry says Queued.
    await queue.unlock(c.uuid);
    await h.api.lockContainer(c.uuid);
    expect((await h.store.get(c.uuid))?.container.state).toBe("Queued");
    await queue.update();
    expect((await h.store.get(c.uuid))?.container).toMatchObject({ state: "Locked", lock_count: 2 });
  });

  it("an entry forgotten while Arvados still lists it (§1.4: Queued on hold, then given a priority) is cached again", async () => {
    const { h, queue } = await ticking();
    const c = h.sim.addContainer({ state: "Queued" });
    await queue.update();
    h.sim.setPriority(c.uuid, 0);
    await queue.update();
    expect(await queue.forget(c.uuid)).toBe(true);
    h.sim.setPriority(c.uuid, 5n * 2n ** 50n);
    await queue.update();
    expect((await h.store.get(c.uuid))?.container.priority).toBe(5n * 2n ** 50n);
  });

  it("an update that stops between its entry writes and its index leaves no index behind: the next one scans and rebuilds", async () => {
    const { h, queue } = await ticking();
    h.sim.addContainer({ state: "Queued" });
    await queue.update();
    expect((await h.store.meta()).indexShards).toBe(1);
    h.sim.addContainer({ state: "Queued" });
    // The index stops being whole before the first entry write; a crash right after it:
    await new QueueIndexStore(localDynamoDb(), h.tableName).mark(queue.leaseOwner, undefined).catch(() => undefined);
    const report = await queue.update();
    expect(report.readIndex).toBe(false);
    expect(report.cached).toBe(2);
    expect((await queue.update()).readIndex).toBe(true);
  });
});
