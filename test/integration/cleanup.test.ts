import { RunInstancesCommand } from "@aws-sdk/client-ec2";
import { afterEach, describe, expect, it } from "vitest";
import { runCleanupPass } from "../../lib/cleanup/cleanup-pass.js";
import { runLaunchPass } from "../../lib/launch/launch-pass.js";
import { type DispatchHarness, dispatchHarness } from "../support/dispatch.js";
import { localEc2Client } from "../support/ec2.js";

let h: DispatchHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A test clock that only moves when told to. */
function testClock() {
  let skewMs = 0;
  return {
    now: () => new Date(Date.now() + skewMs),
    advance: (ms: number) => {
      skewMs += ms;
    },
  };
}

const plenty = () => 60_000;
const minute = 60_000;

async function harness(extra = "", ec2: Parameters<typeof dispatchHarness>[1] = {}, clock = testClock()) {
  const d = await dispatchHarness(extra, ec2, clock.now);
  h = d;
  return { d, clock };
}

function liveInstancesFor(d: DispatchHarness, uuid: string) {
  return d.ec2sim
    .instances()
    .filter((i) => i.tags.ArvadosContainerUUID === uuid && (i.state === "pending" || i.state === "running"));
}

/** One queued container, polled, typed, locked and launched. */
async function launched(d: DispatchHarness) {
  const c = d.sim.addContainer({ state: "Queued", priority: 5, runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
  await d.refresh();
  await runLaunchPass(d.launchDeps(), plenty);
  const entry = await d.store.get(c.uuid);
  const instanceId = entry?.launch?.instanceId ?? "";
  expect(instanceId).not.toBe("");
  return { uuid: c.uuid, instanceId };
}

describe("forget (§1.4, §3.4)", () => {
  it("forgets Complete, Cancelled, and Queued-on-hold entries, and keeps the rest", async () => {
    const { d } = await harness();
    const done = d.sim.addContainer({ state: "Running" });
    const dropped = d.sim.addContainer({ state: "Locked" });
    const onHold = d.sim.addContainer({ state: "Queued", priority: 1 });
    const waiting = d.sim.addContainer({ state: "Queued", priority: 1 });
    await d.queue.update();
    d.sim.finishContainer(done.uuid, "Complete");
    d.sim.finishContainer(dropped.uuid, "Cancelled");
    d.sim.setPriority(onHold.uuid, 0);
    await d.queue.update();
    const report = await runCleanupPass(d.cleanupDeps());
    expect(report.forgotten).toBe(3);
    const { entries } = await d.queue.entries();
    expect([...entries.keys()]).toEqual([waiting.uuid]);
  });
});

describe("Running with no instance (§3.4)", () => {
  it("is cancelled only once the queue has been polled after the instance was last known", async () => {
    const { d } = await harness();
    const orphaned = d.sim.addContainer({ state: "Running" });
    await d.queue.update();
    // The threshold is the start of the poll that first saw it: too stale to judge.
    const first = await runCleanupPass(d.cleanupDeps());
    expect(first.cancelled).toEqual({});
    expect(d.sim.getContainer(orphaned.uuid)?.state).toBe("Running");
    await d.queue.update();
    const second = await runCleanupPass(d.cleanupDeps());
    expect(second.cancelled).toEqual({ "not running on any instance": 1 });
    expect(d.sim.getContainer(orphaned.uuid)?.state).toBe("Cancelled");
  });
});

describe("Locked whose instance is gone", () => {
  it("is requeued once a poll newer than the instance's end has run, and can then launch again", async () => {
    const { d, clock } = await harness();
    const { uuid, instanceId } = await launched(d);
    d.ec2sim.killInstance(instanceId);
    await d.queue.update();
    const early = await runCleanupPass(d.cleanupDeps());
    expect(early.requeued).toEqual({});
    clock.advance(2 * minute);
    await d.queue.update();
    const report = await runCleanupPass(d.cleanupDeps());
    expect(report.requeued).toEqual({ "instance gone": 1 });
    expect(d.sim.getContainer(uuid)).toMatchObject({ state: "Queued", lock_count: 1 });
    expect((await d.store.get(uuid))?.launch).toBeUndefined();
    await d.refresh();
    await runLaunchPass(d.launchDeps(), plenty);
    expect(liveInstancesFor(d, uuid)).toHaveLength(1);
    expect(d.sim.getContainer(uuid)?.lock_count).toBe(2);
  });

  it("is terminated and requeued when its instance never booted within TimeoutBooting", async () => {
    const { d, clock } = await harness("TimeoutBooting: 5m", { pendingMs: 24 * 3600_000 });
    const { uuid, instanceId } = await launched(d);
    clock.advance(6 * minute);
    await d.queue.update();
    const report = await runCleanupPass(d.cleanupDeps());
    expect(report.terminated).toEqual({ TimeoutBooting: 1 });
    expect(report.requeued).toEqual({ TimeoutBooting: 1 });
    expect(d.ec2sim.instance(instanceId)?.state).not.toBe("pending");
    expect(d.sim.getContainer(uuid)?.state).toBe("Queued");
  });
});

describe("instances that must go", () => {
  it("terminates the instance of a finished container, then forgets the entry", async () => {
    const { d } = await harness();
    const { uuid, instanceId } = await launched(d);
    d.sim.startContainer(uuid);
    d.sim.finishContainer(uuid, "Complete");
    await d.queue.update();
    const report = await runCleanupPass(d.cleanupDeps());
    expect(report.terminated).toEqual({ finished: 1 });
    expect(["shutting-down", "terminated"]).toContain(d.ec2sim.instance(instanceId)?.state);
    d.ec2sim.advance(60_000);
    const next = await runCleanupPass(d.cleanupDeps());
    expect(next.forgotten).toBe(1);
    expect(await d.store.get(uuid)).toBeUndefined();
  });

  it("terminates the instance of a Running container whose priority fell to 0", async () => {
    const { d } = await harness();
    const { uuid, instanceId } = await launched(d);
    d.sim.startContainer(uuid);
    d.sim.setPriority(uuid, 0);
    await d.queue.update();
    const report = await runCleanupPass(d.cleanupDeps());
    expect(report.terminated).toEqual({ "priority=0": 1 });
    expect(d.ec2sim.instance(instanceId)?.state).not.toBe("running");
  });

  it("terminates an instance of ours whose container Arvados says is not locked by us, and keeps one that is", async () => {
    const { d } = await harness();
    const small = d.config.InstanceTypes.small;
    if (small === undefined) throw new Error("fixture lacks type small");
    const notOurs = d.sim.addContainer({ state: "Queued", priority: 0 });
    const ours = d.sim.addContainer({ state: "Locked" });
    const launch = (containerUuid: string) =>
      d.cloud.launch({ containerUuid, lockCount: 1, instanceType: small, subnetIndex: 0, throttleDelayMs: 0 });
    const stray = await launch(notOurs.uuid);
    const kept = await launch(ours.uuid);
    const report = await runCleanupPass(d.cleanupDeps());
    expect(report.orphans).toBe(1);
    expect(report.terminated).toEqual({ "not in queue": 1 });
    expect(d.ec2sim.instance(stray.instanceId)?.state).not.toBe("pending");
    expect(["pending", "running"]).toContain(d.ec2sim.instance(kept.instanceId)?.state);
  });
});

describe("an operator's IdleBehavior tag (set through the dispatch API) steers what cleanup ends", () => {
  it("hold: the instance of a finished container is left running and reported, until the tag says run again", async () => {
    const { d } = await harness();
    const { uuid, instanceId } = await launched(d);
    await d.cloud.setIdleBehavior(instanceId, "hold");
    expect(d.ec2sim.instance(instanceId)?.tags.ArvadosIdleBehavior).toBe("hold");
    d.sim.startContainer(uuid);
    d.sim.finishContainer(uuid, "Complete");
    await d.queue.update();
    const report = await runCleanupPass(d.cleanupDeps());
    expect(report).toMatchObject({ terminated: {}, held: [{ instanceId, reason: "finished" }] });
    expect(liveInstancesFor(d, uuid)).toHaveLength(1);
    await d.cloud.setIdleBehavior(instanceId, "run");
    expect((await runCleanupPass(d.cleanupDeps())).terminated).toEqual({ finished: 1 });
  });

  it("drain: an instance still booting is terminated at once and its container requeued, then launched anew", async () => {
    const { d } = await harness("", { pendingMs: 24 * 3600_000 });
    const { uuid, instanceId } = await launched(d);
    await d.cloud.setIdleBehavior(instanceId, "drain");
    const report = await runCleanupPass(d.cleanupDeps());
    expect(report).toMatchObject({ terminated: { drain: 1 }, requeued: { drain: 1 } });
    expect(d.ec2sim.instance(instanceId)?.state).not.toBe("pending");
    expect(d.sim.getContainer(uuid)?.state).toBe("Queued");
    await d.refresh();
    await runLaunchPass(d.launchDeps(), plenty);
    expect(liveInstancesFor(d, uuid).map((i) => i.instanceId)).not.toContain(instanceId);
    expect(liveInstancesFor(d, uuid)).toHaveLength(1);
  });

  it("drain: an instance running its container is left to finish it", async () => {
    const { d } = await harness();
    const { uuid, instanceId } = await launched(d);
    d.ec2sim.advance(60_000);
    d.sim.startContainer(uuid);
    await d.queue.update();
    await d.cloud.setIdleBehavior(instanceId, "drain");
    const report = await runCleanupPass(d.cleanupDeps());
    expect(report.terminated).toEqual({});
    expect(d.ec2sim.instance(instanceId)?.state).toBe("running");
  });
});

describe("an instance this dispatcher did not launch is never terminated (upgrade from arvados-dispatch-cloud)", () => {
  /** An upstream worker: our instance set's tag and upstream's tags, but no container tag (§4.1). */
  async function upstreamWorker(d: DispatchHarness): Promise<string> {
    const reply = await localEc2Client(d.ec2sim.url()).send(
      new RunInstancesCommand({
        ImageId: "ami-upstream",
        InstanceType: "t3.small",
        MinCount: 1,
        MaxCount: 1,
        TagSpecifications: [
          {
            ResourceType: "instance",
            Tags: [
              { Key: "ArvadosInstanceSetID", Value: d.sim.rootTokenUuid },
              { Key: "ArvadosInstanceType", Value: "small" },
              { Key: "ArvadosIdleBehavior", Value: "run" },
            ],
          },
        ],
      }),
    );
    return reply.Instances?.[0]?.InstanceId ?? "";
  }

  it("reports it and leaves it running, on every pass", async () => {
    const { d } = await harness();
    const worker = await upstreamWorker(d);
    expect(worker).not.toBe("");
    for (let pass = 0; pass < 2; pass++) {
      const report = await runCleanupPass(d.cleanupDeps());
      expect(report.foreign).toEqual([worker]);
      expect(report.terminated).toEqual({});
    }
    expect(["pending", "running"]).toContain(d.ec2sim.instance(worker)?.state);
  });

  it("does not terminate it on a spot interruption warning either", async () => {
    const { d } = await harness();
    const worker = await upstreamWorker(d);
    const report = await runCleanupPass(d.cleanupDeps(), [worker]);
    expect(report.terminated).toEqual({});
    expect(["pending", "running"]).toContain(d.ec2sim.instance(worker)?.state);
  });
});

describe("spot interruption", () => {
  it("terminates the doomed instance and requeues its Locked container at once", async () => {
    const { d } = await harness();
    const { uuid, instanceId } = await launched(d);
    const report = await runCleanupPass(d.cleanupDeps(), [instanceId]);
    expect(report.terminated["spot interruption"]).toBe(1);
    expect(report.requeued).toEqual({ "spot interruption": 1 });
    expect(d.sim.getContainer(uuid)?.state).toBe("Queued");
  });

  it("acts on a warning for an instance EC2 does not list yet, when our launch record names it", async () => {
    const { d } = await harness("", { listingLagMs: 600_000 });
    const { uuid, instanceId } = await launched(d);
    expect((await d.cloud.list()).map((i) => i.instanceId)).not.toContain(instanceId);
    const report = await runCleanupPass(d.cleanupDeps(), [instanceId]);
    expect(report.terminated["spot interruption"]).toBe(1);
    expect(report.requeued).toEqual({ "spot interruption": 1 });
    expect(d.sim.getContainer(uuid)?.state).toBe("Queued");
  });

  it("cancels a Running container whose instance is interrupted", async () => {
    const { d } = await harness();
    const { uuid, instanceId } = await launched(d);
    d.sim.startContainer(uuid);
    await d.queue.update();
    const report = await runCleanupPass(d.cleanupDeps(), [instanceId]);
    expect(report.cancelled).toEqual({ "spot interruption": 1 });
    expect(d.sim.getContainer(uuid)?.state).toBe("Cancelled");
  });
});

describe("a lost type choice is retried", () => {
  it("chooses types for an entry the stream path gave up on, once its grace has passed", async () => {
    const { d, clock } = await harness();
    const c = d.sim.addContainer({ state: "Queued", priority: 1, runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
    await d.queue.update();
    const early = await runCleanupPass(d.cleanupDeps());
    expect(early.typesRetried).toBe(0);
    clock.advance(3 * minute);
    const report = await runCleanupPass(d.cleanupDeps());
    expect(report.typesRetried).toBe(1);
    expect((await d.store.get(c.uuid))?.instanceTypes?.[0]).toBe("small");
  });
});

describe("shared state is re-derived from EC2", () => {
  it("clears 'at quota until fewer instances' once the listing shows fewer", async () => {
    const { d } = await harness();
    await d.state.modify((s) => ({ next: { ...s, atQuotaUntilFewerInstances: 3 }, result: undefined }));
    await runCleanupPass(d.cleanupDeps());
    expect((await d.state.read()).value.atQuotaUntilFewerInstances).toBeUndefined();
  });
});
