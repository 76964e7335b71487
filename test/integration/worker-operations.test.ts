import { RunInstancesCommand } from "@aws-sdk/client-ec2";
import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { afterEach, describe, expect, it } from "vitest";
import { runCleanupPass } from "../../lib/cleanup/cleanup-pass.js";
import { runLaunchPass } from "../../lib/launch/launch-pass.js";
import type { PoolDeps } from "../../lib/launch/ports.js";
import { idleChangesPerRequest, WorkerIdleStore } from "../../lib/store/worker-idle.js";
import { type DispatchHarness, dispatchHarness } from "../support/dispatch.js";
import { localDynamoDb } from "../support/dynamodb.js";
import { localEc2Client } from "../support/ec2.js";

// Issue #18, the operational half of pool mode, against DynamoDB Local and the EC2 simulator:
// cleanup's TimeoutIdle backstop and its idle-since records, the launch pass reading them, and
// the launch pass removing stale order tags.

let h: DispatchHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const minute = 60_000;
const plenty = () => 60_000;

function testClock() {
  let skewMs = 0;
  return {
    now: () => new Date(Date.now() + skewMs),
    advance: (ms: number) => {
      skewMs += ms;
    },
  };
}

async function harness(cloudVMs = "TimeoutIdle: 1m") {
  const clock = testClock();
  const d = await dispatchHarness(cloudVMs, {}, clock.now);
  h = d;
  const idle = new WorkerIdleStore(localDynamoDb(), d.tableName);
  const pool: PoolDeps = {
    cloud: d.cloud,
    idle,
    settings: { maxRunningContainersPerInstance: 0, timeoutIdleMs: minute, assignMarginMs: 20_000 },
  };
  return {
    d,
    clock,
    idle,
    launch: () => runLaunchPass({ ...d.launchDeps(), pool }, plenty),
    cleanup: () => runCleanupPass({ ...d.cleanupDeps(), channel: d.cloud, workerIdle: idle }),
    /** A one-VCPU container, Queued, polled and typed. */
    submit: async () => {
      const c = d.sim.addContainer({ state: "Queued", priority: 5, runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
      await d.refresh();
      return c.uuid;
    },
  };
}

type World = Awaited<ReturnType<typeof harness>>;

/** A pool worker running one container, which then completes; the queue has seen it Complete. */
async function workerThatRanOne(w: World): Promise<{ instanceId: string; uuid: string }> {
  const uuid = await w.submit();
  await w.launch();
  const instanceId = (await w.d.store.get(uuid))?.launch?.instanceId ?? "";
  expect(w.d.ec2sim.instance(instanceId)?.tags.ArvadosWorker).toBe("pool");
  w.d.sim.startContainer(uuid);
  w.d.sim.finishContainer(uuid, "Complete");
  await w.d.queue.update();
  return { instanceId, uuid };
}

const liveState = (d: DispatchHarness, id: string) => d.ec2sim.instance(id)?.state;

describe("cleanup's TimeoutIdle backstop", () => {
  it("records an idle worker, leaves it to its agent for TimeoutIdle plus a sweep, then terminates it and drops its record", async () => {
    const w = await harness();
    const { instanceId } = await workerThatRanOne(w);

    const first = await w.cleanup();
    expect(first.terminated).toEqual({});
    const records = await w.idle.idleSince();
    expect(Object.keys(records)).toEqual([instanceId]);

    w.clock.advance(minute + 30_000);
    expect((await w.cleanup()).terminated).toEqual({});
    expect(await w.idle.idleSince()).toEqual(records);

    w.clock.advance(minute);
    const late = await w.cleanup();
    expect(late.terminated).toEqual({ TimeoutIdle: 1 });
    expect(liveState(w.d, instanceId)).toMatch(/shutting-down|terminated/);
    expect(await w.idle.idleSince()).toEqual({});
  });

  it("a worker given a container is busy: its record goes, and a new one starts when it is idle again", async () => {
    const w = await harness();
    const { instanceId } = await workerThatRanOne(w);
    await w.cleanup();
    const before = (await w.idle.idleSince())[instanceId];
    expect(before).toBeDefined();

    const next = await w.submit();
    await w.launch();
    expect((await w.d.store.get(next))?.launch).toMatchObject({ instanceId, assignedBy: "tag" });
    await w.cleanup();
    expect(await w.idle.idleSince()).toEqual({});

    w.d.sim.startContainer(next);
    w.d.sim.finishContainer(next, "Complete");
    await w.d.queue.update();
    w.clock.advance(5_000);
    await w.cleanup();
    const after = (await w.idle.idleSince())[instanceId];
    expect(after).toBeDefined();
    expect(Date.parse(after ?? "")).toBeGreaterThan(Date.parse(before ?? ""));
  });

  it("never terminates an instance of our instance set that we did not launch, however long it idles", async () => {
    const w = await harness();
    await workerThatRanOne(w); // a pool worker, so the backstop runs
    const ec2 = localEc2Client(w.d.ec2sim.url());
    const reply = await ec2.send(
      new RunInstancesCommand({
        ImageId: "ami-00000000000000001",
        InstanceType: "m5.large",
        MinCount: 1,
        MaxCount: 1,
        TagSpecifications: [
          {
            ResourceType: "instance",
            Tags: [
              { Key: "ArvadosInstanceSetID", Value: w.d.sim.rootTokenUuid },
              { Key: "ArvadosInstanceType", Value: "small" },
            ],
          },
        ],
      }),
    );
    ec2.destroy();
    const foreign = reply.Instances?.[0]?.InstanceId ?? "";
    for (let pass = 0; pass < 4; pass++) {
      const report = await w.cleanup();
      expect(report.foreign).toEqual([foreign]);
      w.clock.advance(2 * minute);
    }
    expect(liveState(w.d, foreign)).toBe("running");
    expect(Object.keys(await w.idle.idleSince())).not.toContain(foreign);
  });

  it("a deployment with no pool worker reads no records", async () => {
    const w = await harness();
    const uuid = await w.submit();
    await runLaunchPass(w.d.launchDeps(), plenty); // per-container
    expect((await w.d.store.get(uuid))?.launch?.instanceId).toBeDefined();
    let reads = 0;
    const counting = {
      idleSince: async () => {
        reads++;
        return w.idle.idleSince();
      },
      updateIdleSince: w.idle.updateIdleSince.bind(w.idle),
    };
    await runCleanupPass({ ...w.d.cleanupDeps(), channel: w.d.cloud, workerIdle: counting });
    expect(reads).toBe(0);
    const { Item } = await localDynamoDb().send(
      new GetItemCommand({ TableName: w.d.tableName, Key: { uuid: { S: "#workers" } } }),
    );
    expect(Item).toBeUndefined();
  });
});

describe("the launch pass reads the same records", () => {
  it("a worker idle for TimeoutIdle less the margin gets no new container: a new instance does", async () => {
    const w = await harness();
    const { instanceId } = await workerThatRanOne(w);
    await w.cleanup(); // records it idle now
    w.clock.advance(45_000); // past TimeoutIdle (60 s) less the margin (20 s)
    const next = await w.submit();
    await w.launch();
    const launch = (await w.d.store.get(next))?.launch;
    expect(launch?.instanceId).not.toBe(instanceId);
    expect(launch?.assignedBy).not.toBe("tag");
  });

  it("a worker recorded idle only moments ago takes the next container by tag", async () => {
    const w = await harness();
    const { instanceId } = await workerThatRanOne(w);
    await w.cleanup();
    const next = await w.submit();
    await w.launch();
    expect((await w.d.store.get(next))?.launch).toMatchObject({ instanceId, assignedBy: "tag" });
    expect(w.d.ec2sim.instance(instanceId)?.tags[`ArvadosContainer:${next}`]).toBe("run:1");
  });
});

describe("the launch pass removes order tags of containers final or assigned elsewhere", () => {
  it("deletes a finished container's run order (DeleteTags with its value) and keeps the current one's", async () => {
    const w = await harness();
    const { instanceId } = await workerThatRanOne(w);
    await w.cleanup();
    const second = await w.submit();
    await w.launch();
    expect(w.d.ec2sim.instance(instanceId)?.tags[`ArvadosContainer:${second}`]).toBe("run:1");
    w.d.sim.startContainer(second);
    w.d.sim.finishContainer(second, "Complete");
    await w.d.queue.update();
    const third = await w.submit();
    const report = await w.launch();
    expect(report.ordersRemoved).toBe(1);
    const tags = w.d.ec2sim.instance(instanceId)?.tags ?? {};
    expect(tags[`ArvadosContainer:${second}`]).toBeUndefined();
    expect(tags[`ArvadosContainer:${third}`]).toBe("run:1");
    const deletes = w.d.ec2sim.requests().filter((r) => r.action === "DeleteTags");
    expect(deletes).toHaveLength(1);
  });

  it("a newer order set on the same key survives the removal (EC2 deletes only the value named)", async () => {
    const w = await harness();
    const { instanceId } = await workerThatRanOne(w);
    await w.cleanup();
    const second = await w.submit();
    await w.launch();
    w.d.sim.startContainer(second);
    w.d.sim.finishContainer(second, "Complete");
    await w.d.queue.update();
    // Between the listing and the removal, cleanup's kill order replaced the run order.
    await w.d.cloud.kill(instanceId, [{ containerUuid: second, attempt: 1 }]);
    await w.d.cloud.unassign(instanceId, [{ containerUuid: second, action: "run", attempt: 1 }]);
    expect(w.d.ec2sim.instance(instanceId)?.tags[`ArvadosContainer:${second}`]).toBe("kill:1");
  });
});

describe("the idle-since records in DynamoDB", () => {
  it("a change names the value it read: one made stale meanwhile is dropped, the rest applied", async () => {
    const w = await harness();
    const store = w.idle;
    expect(
      await store.updateIdleSince({ set: [{ instanceId: "i-1", at: "2026-01-01T00:00:00.000Z" }], remove: [] }),
    ).toBe(true);
    // A second sighting of i-1 as new loses to the first (it required no record).
    expect(
      await store.updateIdleSince({ set: [{ instanceId: "i-1", at: "2026-01-01T00:05:00.000Z" }], remove: [] }),
    ).toBe(false);
    expect(await store.idleSince()).toEqual({ "i-1": "2026-01-01T00:00:00.000Z" });
    expect(
      await store.updateIdleSince({ set: [], remove: [{ instanceId: "i-1", value: "2026-01-01T00:00:00.000Z" }] }),
    ).toBe(true);
    expect(await store.idleSince()).toEqual({});
  });

  it(`more than ${idleChangesPerRequest} changes go in several writes, and are all applied`, async () => {
    const w = await harness();
    const set = Array.from({ length: 2 * idleChangesPerRequest + 5 }, (_, i) => ({
      instanceId: `i-${String(i).padStart(17, "0")}`,
      at: "2026-01-01T00:00:00.000Z",
    }));
    expect(await w.idle.updateIdleSince({ set, remove: [] })).toBe(true);
    expect(Object.keys(await w.idle.idleSince())).toHaveLength(set.length);
  });

  it("is a meta item: the queue's entries never include it", async () => {
    const w = await harness();
    await w.idle.updateIdleSince({ set: [{ instanceId: "i-1", at: "2026-01-01T00:00:00.000Z" }], remove: [] });
    const { entries } = await w.d.queue.entries();
    expect([...entries.keys()].filter((k) => k.startsWith("#"))).toEqual([]);
  });
});
