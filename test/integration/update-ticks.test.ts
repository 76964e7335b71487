import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { Queue } from "../../lib/queue/queue.js";
import { QueueIndexStore } from "../../lib/store/queue-index.js";
import { TableLaunchWakeRelay } from "../../lib/store/launch-wake-relay.js";
import { TickStore } from "../../lib/store/tick-store.js";
import type { TickMessage, TickSender } from "../../lib/model/ticks.js";
import { runUpdateTick, type TickTrigger, type UpdateTickDeps, updateLeaseMs } from "../../lib/ticks/update-tick.js";
import { type QueueHarness, queueHarness } from "../support/dispatch.js";
import { localDynamoDb } from "../support/dynamodb.js";
import { type ConsumedCapacity, meterConsumedCapacity } from "../../local/consumed-capacity.js";

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

/** The tick a sent message delivers (as the handler reads it). */
function deliver(sent: { message: TickMessage } | undefined): TickTrigger {
  const m = sent?.message;
  if (m?.kind !== "update-tick") throw new Error("no tick was sent");
  return { kind: "tick", generation: m.generation, ...(m.done === undefined ? {} : { done: m.done }) };
}

/** update-queue's tick deps on a fresh table and simulator, with the queue index, as the handler builds them. */
async function ticking(): Promise<{
  h: QueueHarness;
  deps: UpdateTickDeps & { sender: RecordingSender };
  queue: Queue;
  now: { t: number };
  /** What the tick's own client (the chain and the index) consumed. */
  usage: ConsumedCapacity;
}> {
  h = await queueHarness();
  const ddb = localDynamoDb();
  const usage = meterConsumedCapacity(ddb);
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
  return { h, deps, queue, now, usage };
}

describe("a poll every PollInterval with no Lambda billed for waiting (DESIGN: pay for work, not for waiting)", () => {
  it("a tick claims its generation, polls once (§1.5) and sends the next tick delayed by PollInterval, carrying what its claim closes", async () => {
    const { h, deps, queue } = await ticking();
    const c = h.sim.addContainer({ state: "Queued" });
    const result = await runUpdateTick(deps, { kind: "tick", generation: 0 }, plenty);
    expect(result.outcome).toBe("updated");
    expect(await h.store.get(c.uuid)).toBeDefined();
    const startedAt = result.outcome === "updated" ? result.report.startedAt : "";
    expect(deps.sender.sent).toEqual([
      {
        message: {
          kind: "update-tick",
          generation: 1,
          done: { owner: queue.leaseOwner, startedAt, tokenUuid: expect.any(String), waiting: 1 },
        },
        delayMs: pollIntervalMs,
      },
    ]);
  });

  it("a tick writes #queue once: its claim closes the update that sent it (threshold forward, lease taken over, waiting count)", async () => {
    const { h, deps, usage } = await ticking();
    h.sim.addContainer({ state: "Queued" });
    const first = await runUpdateTick(deps, { kind: "tick", generation: 0 }, plenty);
    // The threshold is the next claim's to write: until then readers see the older one (safe).
    expect((await h.store.meta()).threshold).toBeUndefined();
    const written = () => h.usage.writeCapacityUnits + usage.writeCapacityUnits;
    const before = written();
    const second = await runUpdateTick(deps, deliver(deps.sender.sent.at(-1)), plenty);
    expect(second.outcome).toBe("updated");
    // Steady: one write (the claim); no closing write, no entry or index write.
    expect(written() - before).toBe(1);
    const meta = await h.store.getMetaItem("#queue");
    expect(meta?.threshold).toBe(first.outcome === "updated" ? first.report.startedAt : "");
    expect(meta?.waitingEntries).toBe(1);
    // The second update's own lease is held until the third tick's claim takes it over.
    expect(meta?.leaseOwner).toBeDefined();
    expect((await runUpdateTick(deps, deliver(deps.sender.sent.at(-1)), plenty)).outcome).toBe("updated");
    expect((await h.store.getMetaItem("#queue"))?.threshold).toBe(
      second.outcome === "updated" ? second.report.startedAt : "",
    );
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
    await runUpdateTick(deps, deliver(next), plenty);
    expect((await h.store.get(c.uuid))?.container.state).toBe("Queued");
  });

  it("the watchdog leaves a live chain alone, and restarts one whose tick was lost; the lost tick, late, is then stale", async () => {
    const { deps, now } = await ticking();
    await runUpdateTick(deps, { kind: "tick", generation: 0 }, plenty);
    expect((await runUpdateTick(deps, { kind: "watchdog" }, plenty)).outcome).toBe("chainAlive");
    // The tick of generation 1 is lost: nothing claims before the chain's due time passes (the
    // claim's lease, which no closing write gives back, plus PollInterval and slack).
    now.t += updateLeaseMs(pollIntervalMs) + 3 * pollIntervalMs;
    const restart = await runUpdateTick(deps, { kind: "watchdog" }, plenty);
    expect(restart).toMatchObject({ outcome: "updated", restarted: true });
    expect(deps.sender.sent.at(-1)?.message).toMatchObject({ kind: "update-tick", generation: 2 });
    expect((await runUpdateTick(deps, deliver(deps.sender.sent[0]), plenty)).outcome).toBe("stale");
    expect((await runUpdateTick(deps, deliver(deps.sender.sent.at(-1)), plenty)).outcome).toBe("updated");
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

describe("a tick's update never writes past its lease (the next claim takes the lease over: no closing write gives it back)", () => {
  it("an update past its write deadline stops writing, leaves the index not whole, and the next tick goes on", async () => {
    const { h, deps, now } = await ticking();
    for (let i = 0; i < 3; i++) h.sim.addContainer({ state: "Queued" });
    // The tick claimed a whole lease ago by the time the update (on the real clock) would write:
    // as if the poll had taken longer than the lease. None of its writes may start.
    now.t = Date.now() - updateLeaseMs(pollIntervalMs) - 5_000;
    const late = await runUpdateTick(deps, { kind: "tick", generation: 0 }, plenty);
    expect(late).toMatchObject({ outcome: "failed", error: expect.objectContaining({ name: "UpdateDeadlineError" }) });
    expect((await h.store.scan()).entries.size).toBe(0);
    expect((await h.store.meta()).indexShards).toBeUndefined();
    // Its lease was given back, and the next tick (no threshold to carry) polls and writes.
    now.t = Date.now();
    expect(deps.sender.sent.at(-1)?.message).toEqual({ kind: "update-tick", generation: 1 });
    expect((await runUpdateTick(deps, deliver(deps.sender.sent.at(-1)), plenty)).outcome).toBe("updated");
    expect((await h.store.scan()).entries.size).toBe(3);
  });
});

describe("launch's wake-ups come on the tick queue and are relayed through the table (one queue polled, not two)", () => {
  it("a relay stamps #launch-wake forward in time only: a late, older relay starts no pass", async () => {
    const { h } = await ticking();
    const relay = new TableLaunchWakeRelay(localDynamoDb(), h.tableName);
    expect(await relay.relay("throttle", 2_000)).toBe(true);
    expect(await relay.relay("backlog", 1_000)).toBe(false);
    expect(await h.store.getMetaItem("#launch-wake")).toEqual({ firedAt: 2_000, reason: "throttle" });
    expect(await relay.relay("capacity", 3_000)).toBe(true);
  });
});
