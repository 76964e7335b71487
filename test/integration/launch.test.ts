import { afterEach, describe, expect, it } from "vitest";
import { runLaunchPass } from "../../lib/launch/launch-pass.js";
import type { FaultSpec } from "../../local/ec2-sim/faults.js";
import { type Interception, InterceptProxy } from "../../local/soak/intercept-proxy.js";
import { applyCapacityError } from "../../lib/scheduler/capacity.js";
import { type DispatchHarness, dispatchHarness } from "../support/dispatch.js";

let h: DispatchHarness;
let proxy: InterceptProxy | undefined;
afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
  await h?.close();
});

/**
 * The launcher's cloud through an InterceptProxy in front of the EC2 simulator that plays
 * `interceptions` on the RunInstances calls in order (then forwards): "lose-reply" lets EC2 act
 * and drops the reply, "crash-before" drops the connection before EC2 sees the call.
 */
async function cloudWith(...interceptions: Interception[]) {
  proxy = new InterceptProxy(h.ec2sim.url(), (req) => ({
    interception: (req.body.includes("Action=RunInstances") && interceptions.shift()) || "forward",
  }));
  return h.cloudAt(await proxy.start());
}

/** The ClientTokens of the RunInstances calls EC2 received, in order. */
const runInstancesTokens = () =>
  h.ec2sim
    .requests()
    .filter((r) => r.action === "RunInstances")
    .map((r) => r.params.ClientToken);

const plenty = () => 60_000;
const containerTag = "ArvadosContainerUUID";
function instancesFor(uuid: string) {
  return h.ec2sim.instances().filter((i) => i.tags[containerTag] === uuid);
}
function queued(n: number, fields: Record<string, unknown> = {}) {
  return Array.from({ length: n }, (_, i) =>
    h.sim.addContainer({
      state: "Queued",
      priority: 10 + i,
      runtime_constraints: { ram: 2 ** 30, vcpus: 1 },
      ...fields,
    }),
  );
}

describe("lock then launch (§3.3)", () => {
  it("gives N queued containers N instances, exactly one each, locked by our token", async () => {
    h = await dispatchHarness();
    const containers = queued(4);
    await h.refresh();
    const report = await runLaunchPass(h.launchDeps(), plenty);
    expect(report.locked).toBe(4);
    expect(report.launched).toHaveLength(4);
    for (const c of containers) {
      expect(instancesFor(c.uuid)).toHaveLength(1);
      expect(h.sim.getContainer(c.uuid)).toMatchObject({ state: "Locked", locked_by_uuid: h.sim.rootTokenUuid });
      const entry = await h.store.get(c.uuid);
      expect(entry?.launch).toMatchObject({ instanceType: "small", attempt: 1 });
    }
  });

  it("launches the cheapest eligible type and tags and configures the instance as upstream", async () => {
    h = await dispatchHarness();
    const [c] = queued(1);
    await h.refresh();
    await runLaunchPass(h.launchDeps(), plenty);
    const [instance] = instancesFor(c?.uuid ?? "");
    expect(instance?.instanceType).toBe("m5.large");
    expect(instance?.tags).toMatchObject({
      ArvadosInstanceSetID: h.sim.rootTokenUuid,
      ArvadosInstanceType: "small",
      ArvadosIdleBehavior: "run",
    });
    expect(instance?.userData).not.toContain(h.sim.rootToken);
  });

  it("never starts a second instance when the pass runs again", async () => {
    h = await dispatchHarness();
    queued(3);
    await h.refresh();
    await runLaunchPass(h.launchDeps(), plenty);
    await h.refresh();
    const again = await runLaunchPass(h.launchDeps(), plenty);
    expect(again.launched).toHaveLength(0);
    expect(h.ec2sim.stats().instancesLaunched).toBe(3);
  });

  it("launches a container left Locked without an instance (a crash between lock and launch)", async () => {
    h = await dispatchHarness();
    const [c] = queued(1);
    await h.refresh();
    await h.queue.lock(c?.uuid ?? "");
    const report = await runLaunchPass(h.launchDeps(), plenty);
    expect(report.locked).toBe(0);
    expect(report.launched).toHaveLength(1);
    expect(instancesFor(c?.uuid ?? "")).toHaveLength(1);
  });

  it("falls through to the next type when the cheapest is at capacity, and remembers it", async () => {
    h = await dispatchHarness();
    h.ec2sim.injectFault({ code: "InsufficientInstanceCapacity", instanceType: "m5.large" });
    const [a, b] = queued(2);
    await h.refresh();
    const report = await runLaunchPass(h.launchDeps(), plenty);
    expect(report.capacityErrors).toBeGreaterThanOrEqual(1);
    expect(instancesFor(a?.uuid ?? "")[0]?.instanceType).toBe("m5.xlarge");
    expect(instancesFor(b?.uuid ?? "")[0]?.instanceType).toBe("m5.xlarge");
    const { value } = await h.state.read();
    expect(Object.keys(value.atCapacityUntil)).toContain("m5.large");
  });

  it("does not lock a container whose every type is at capacity", async () => {
    h = await dispatchHarness();
    const [c] = queued(1, { runtime_constraints: { ram: 20 * 2 ** 30, vcpus: 1 } });
    await h.refresh();
    await h.state.modify((s) => ({
      next: { ...s, atCapacityUntil: { "m5.2xlarge": Date.now() + 60_000 } },
      result: undefined,
    }));
    const report = await runLaunchPass(h.launchDeps(), plenty);
    expect(report.locked).toBe(0);
    expect(h.sim.getContainer(c?.uuid ?? "")?.state).toBe("Queued");
    // The pass log says why it did nothing.
    expect(report).toMatchObject({ planned: 0, limits: { typesAtCapacity: 1, atQuotaForMs: 0, throttledForMs: 0 } });
  });
});

describe("a long pass plans again", () => {
  it("picks up a container that arrives mid-pass with a higher priority before the rest of its first plan", async () => {
    h = await dispatchHarness();
    const [low1, low2, low3] = queued(3);
    await h.refresh();
    const deps = h.launchDeps();
    let urgent: ReturnType<typeof queued>[number] | undefined;
    const cloud = deps.cloud;
    // After the first launch, a user submits an urgent container and update/choose cache it.
    const launchThenSubmit: typeof cloud.launch = async (request) => {
      const instance = await cloud.launch(request);
      if (urgent === undefined) {
        [urgent] = queued(1, { priority: 1000 });
        await h.refresh();
      }
      return instance;
    };
    const report = await runLaunchPass(
      { ...deps, cloud: { ...cloud, list: () => cloud.list(), launch: launchThenSubmit }, replanMs: 0 },
      plenty,
    );
    const order = report.launched.map((l) => l.uuid);
    // Priority order (§3.3): low3 (12) first; then the urgent one (1000), which the first plan never saw.
    expect(order).toEqual([low3?.uuid, urgent?.uuid, low2?.uuid, low1?.uuid]);
    expect(report.plans).toBeGreaterThanOrEqual(4);
  });

  it("follows one plan while it is younger than replanMs", async () => {
    h = await dispatchHarness();
    queued(3);
    await h.refresh();
    const report = await runLaunchPass({ ...h.launchDeps(), replanMs: 60_000 }, plenty);
    expect(report).toMatchObject({ plans: 1, planned: 3 });
    expect(report.launched).toHaveLength(3);
  });
});

describe("limits", () => {
  it("locks no more than MaxInstances allows, highest priority first", async () => {
    h = await dispatchHarness("MaxInstances: 2");
    const containers = queued(4);
    await h.refresh();
    await runLaunchPass(h.launchDeps(), plenty);
    const launched = containers.filter((c) => instancesFor(c.uuid).length > 0).map((c) => c.priority);
    expect(launched.sort()).toEqual([12n, 13n]);
    expect(h.ec2sim.stats().instancesLaunched).toBe(2);
  });

  it("stops at a quota error; with instances running, the head of the line keeps its lock", async () => {
    h = await dispatchHarness("", { instanceLimit: 1 });
    const [low, mid, high] = queued(3);
    await h.refresh();
    const report = await runLaunchPass(h.launchDeps(), plenty);
    expect(report.quotaErrors).toBe(1);
    expect(h.ec2sim.stats().instancesLaunched).toBe(1);
    expect(instancesFor(high?.uuid ?? "")).toHaveLength(1);
    const states = () => [low, mid].map((c) => h.sim.getContainer(c?.uuid ?? "")?.state);
    expect(states()).toEqual(["Queued", "Locked"]);
    const { value } = await h.state.read();
    expect(value.atQuotaUntilFewerInstances).toBe(1);
    // Still at quota: the next pass neither unlocks the head of the line nor locks anyone else.
    const next = await runLaunchPass(h.launchDeps(), plenty);
    expect(states()).toEqual(["Queued", "Locked"]);
    expect(next.limits.atQuotaForMs).toBeGreaterThan(0);
  });

  it("at quota with no instance at all, gives the lock back (upstream lets MaxDispatchAttempts decide)", async () => {
    h = await dispatchHarness();
    h.ec2sim.injectFault({ code: "InstanceLimitExceeded", times: 10 });
    const [c] = queued(1);
    await h.refresh();
    await runLaunchPass(h.launchDeps(), plenty);
    expect(h.sim.getContainer(c?.uuid ?? "")?.state).toBe("Locked");
    const { value } = await h.state.read();
    expect(value.atQuotaUntil).toBeGreaterThan(Date.now());
    const second = await runLaunchPass(h.launchDeps(), plenty);
    expect(second.unlocked).toBe(1);
    expect(h.sim.getContainer(c?.uuid ?? "")).toMatchObject({ state: "Queued", lock_count: 1 });
  });

  it("stops at a throttle error and asks to be woken when the first backoff (1 s) ends; the woken pass goes on", async () => {
    h = await dispatchHarness();
    h.ec2sim.injectFault({ code: "RequestLimitExceeded", times: 1 });
    queued(2);
    await h.refresh();
    const report = await runLaunchPass(h.launchDeps(), plenty);
    expect(report.throttleErrors).toBe(1);
    expect(report.launched).toHaveLength(0);
    const until = (await h.state.read()).value.throttledUntil ?? 0;
    expect(report.wake).toEqual({ atMs: until, reason: "throttle" });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, until - Date.now()) + 20));
    const woken = await runLaunchPass(h.launchDeps(), plenty);
    expect(woken.launched).toHaveLength(2);
    // A success resets the backoff (§4.3 wrapError).
    expect((await h.state.read()).value.throttleDelayMs).toBe(0);
  });

  it("runs one pass at a time: a concurrent pass waits for the first, then finds nothing left", async () => {
    h = await dispatchHarness();
    queued(2);
    await h.refresh();
    const [a, b] = await Promise.all([runLaunchPass(h.launchDeps(), plenty), runLaunchPass(h.launchDeps(), plenty)]);
    expect([a.launched.length, b.launched.length].sort()).toEqual([0, 2]);
    expect(h.ec2sim.stats().instancesLaunched).toBe(2);
  });

  it("gives up waiting for a pass that holds the lease too long, doing nothing", async () => {
    h = await dispatchHarness();
    queued(1);
    await h.refresh();
    expect(await h.store.acquireLaunchPassLease("someone-else", Date.now(), 60_000)).toBe(true);
    const report = await runLaunchPass(h.launchDeps(), () => 6_000, 5_000);
    expect(report.ran).toBe(false);
    expect(h.ec2sim.stats().runInstancesCalls).toBe(0);
  });
});

describe("each waiting container's scheduling status is stored when it changes (§3.3)", () => {
  const booting = "Waiting for a small instance to boot and be ready to accept work.";
  const preparing = "Container is allocated to an instance and preparing to run.";
  const atLimits = (position: number) =>
    `Waiting in queue at position ${position}.  Cluster is at cloud account limits and cannot start any new instances right now.`;

  it("stores upstream's text on every Queued and Locked entry, then only the ones that change, then none", async () => {
    h = await dispatchHarness("MaxInstances: 2");
    const [low, mid, high, top] = queued(4);
    await h.refresh();
    const first = await runLaunchPass(h.launchDeps(), plenty);
    const stored = async () =>
      Promise.all([top, high, mid, low].map(async (c) => (await h.store.get(c?.uuid ?? ""))?.schedulingStatus));
    expect(await stored()).toEqual([booting, booting, atLimits(1), atLimits(2)]);
    expect(first.statusesWritten).toBe(4);

    await h.refresh();
    const second = await runLaunchPass(h.launchDeps(), plenty);
    expect(await stored()).toEqual([preparing, preparing, atLimits(1), atLimits(2)]);
    expect(second.statusesWritten).toBe(2);

    await h.refresh();
    const third = await runLaunchPass(h.launchDeps(), plenty);
    expect(third).toMatchObject({ statusesWritten: 0, statusWriteErrors: [] });
  });

  it("a status write that fails is counted and never fails the pass or its launches", async () => {
    h = await dispatchHarness();
    queued(2);
    await h.refresh();
    const deps = h.launchDeps();
    const store = Object.create(deps.store) as typeof deps.store;
    store.setSchedulingStatus = async () => {
      throw Object.assign(new Error("throttled"), { name: "ProvisionedThroughputExceededException" });
    };
    const report = await runLaunchPass({ ...deps, store }, plenty);
    expect(report.launched).toHaveLength(2);
    expect(report.statusWriteErrors).toEqual([
      "ProvisionedThroughputExceededException",
      "ProvisionedThroughputExceededException",
    ]);
    expect(report.failures).toBe(0);
  });
});

describe("the RunInstances ClientToken", () => {
  it("returns the same instance for a retried launch of the same lock", async () => {
    h = await dispatchHarness();
    const config = h.config.InstanceTypes.small;
    if (config === undefined) throw new Error("fixture lacks type small");
    const request = {
      containerUuid: "zzzzz-dz642-000000000000042",
      lockCount: 3,
      instanceType: config,
      subnetIndex: 0,
      throttleDelayMs: 0,
    };
    const first = await h.cloud.launch(request);
    const second = await h.cloud.launch(request);
    expect(second.instanceId).toBe(first.instanceId);
    expect(h.ec2sim.stats().instancesLaunched).toBe(1);
    const nextLock = await h.cloud.launch({ ...request, lockCount: 4 });
    expect(nextLock.instanceId).not.toBe(first.instanceId);
  });

  it("sends byte-identical parameters for the same lock when the entry's copy of the type comes back with its keys in another order", async () => {
    h = await dispatchHarness();
    const config = h.config.InstanceTypes.small;
    if (config === undefined) throw new Error("fixture lacks type small");
    // DynamoDB keeps no order in a map: the entry's copy of the type may come back reordered.
    const reordered = Object.fromEntries(Object.entries(config).reverse()) as typeof config;
    const request = { containerUuid: "zzzzz-dz642-000000000000043", lockCount: 1, subnetIndex: 0, throttleDelayMs: 0 };
    const first = await h.cloud.launch({ ...request, instanceType: config });
    const second = await h.cloud.launch({ ...request, instanceType: reordered });
    expect(second.instanceId).toBe(first.instanceId);
    expect(h.ec2sim.requests().map((r) => r.error)).toEqual([undefined, undefined]);
  });
});

describe("one lock, one instance, even with a lost RunInstances reply (the launch intent)", () => {
  it("repeats the lost call on its type, subnet and ClientToken while EC2 does not list the instance yet and that type is at capacity", async () => {
    h = await dispatchHarness("", { listingLagMs: 10 * 60_000 });
    const [c] = queued(1);
    const uuid = c?.uuid ?? "";
    await h.refresh();
    // The first RunInstances reaches EC2, which starts the instance; its reply is lost.
    const lost = await runLaunchPass({ ...h.launchDeps(), cloud: await cloudWith("lose-reply") }, plenty);
    expect(lost.launched).toEqual([]);
    const [instance] = instancesFor(uuid);
    expect(await h.cloud.list()).toEqual([]); // EC2 lists eventually
    expect((await h.store.get(uuid))?.launchIntent).toMatchObject({
      attempt: 1,
      instanceType: "small",
      subnetId: instance?.subnetId,
      clientToken: instance?.clientToken,
    });
    // Now EC2 lacks m5.large (small), and the launcher knows it from another launch: planning
    // afresh would take the next type, with another ClientToken, and start a second instance.
    h.ec2sim.injectFault({ code: "InsufficientInstanceCapacity", instanceType: "m5.large" });
    await h.state.modify((s) => ({
      next: { ...s, ...applyCapacityError(s, "m5.large", Date.now()) },
      result: undefined,
    }));
    await h.refresh();

    const next = await runLaunchPass(h.launchDeps(), plenty);
    expect(next.repeats).toEqual([{ uuid, instanceType: "small", outcome: "launched", typeConfigured: true }]);
    expect(next.launched).toEqual([expect.objectContaining({ uuid, instanceType: "small" })]);
    expect(instancesFor(uuid).map((i) => i.instanceId)).toEqual([instance?.instanceId]);
    expect(runInstancesTokens()).toEqual([instance?.clientToken, instance?.clientToken]);
    const entry = await h.store.get(uuid);
    expect({ launch: entry?.launch, intent: entry?.launchIntent }).toEqual({
      launch: expect.objectContaining({ instanceId: instance?.instanceId, instanceType: "small", attempt: 1 }),
      intent: undefined,
    });
    // And nothing more: the lock holds its one instance.
    await h.refresh();
    expect((await runLaunchPass(h.launchDeps(), plenty)).launched).toEqual([]);
    expect(h.ec2sim.stats().instancesLaunched).toBe(1);
  });

  const unknownOutcomes: [string, FaultSpec | undefined, Interception | undefined][] = [
    ["EC2 answers InternalError", { code: "InternalError", status: 500, times: 1 }, undefined],
    ["EC2 answers ServiceUnavailable", { code: "ServiceUnavailable", status: 503, times: 1 }, undefined],
    ["the call gets no reply", undefined, "crash-before"],
  ];
  it.each(unknownOutcomes)(
    "keeps the intent when the outcome is unknown (%s), and the next pass's repeat starts the one instance",
    async (_what, fault, interception) => {
      h = await dispatchHarness();
      const [c] = queued(1);
      const uuid = c?.uuid ?? "";
      await h.refresh();
      if (fault !== undefined) h.ec2sim.injectFault(fault);
      const deps = h.launchDeps();
      const first = await runLaunchPass(
        interception === undefined ? deps : { ...deps, cloud: await cloudWith(interception) },
        plenty,
      );
      expect(first.failures).toBe(1);
      expect(h.ec2sim.instances()).toEqual([]);
      const intent = (await h.store.get(uuid))?.launchIntent;
      expect(intent).toMatchObject({ attempt: 1, instanceType: "small" });

      await h.refresh();
      const next = await runLaunchPass(h.launchDeps(), plenty);
      expect(next.repeats).toEqual([expect.objectContaining({ uuid, outcome: "launched" })]);
      expect(instancesFor(uuid).map((i) => i.clientToken)).toEqual([intent?.clientToken]);
      expect((await h.store.get(uuid))?.launchIntent).toBeUndefined();
    },
  );

  it.each([
    ["a capacity error on every type and subnet", { code: "InsufficientInstanceCapacity" }],
    ["a client error", { code: "InvalidParameterValue", message: "Invalid value 'x' for ImageId" }],
  ])("removes the intent when EC2 answers with %s (nothing was started)", async (_what, fault) => {
    h = await dispatchHarness();
    const [c] = queued(1);
    const uuid = c?.uuid ?? "";
    await h.refresh();
    h.ec2sim.injectFault(fault);
    const report = await runLaunchPass(h.launchDeps(), plenty);
    expect(report.launched).toEqual([]);
    expect(runInstancesTokens().length).toBeGreaterThan(0);
    expect(h.sim.getContainer(uuid)?.state).toBe("Locked");
    expect((await h.store.get(uuid))?.launchIntent).toBeUndefined();
  });

  it("does not repeat the intent of an earlier lock: the next lock launches with its own ClientToken", async () => {
    h = await dispatchHarness("", { listingLagMs: 10 * 60_000 });
    const [c] = queued(1);
    const uuid = c?.uuid ?? "";
    await h.refresh();
    await runLaunchPass({ ...h.launchDeps(), cloud: await cloudWith("lose-reply") }, plenty);
    expect((await h.store.get(uuid))?.launchIntent?.attempt).toBe(1);
    // Cleanup gives the lock back (say the instance never booted); the next pass locks again.
    await h.queue.unlock(uuid);
    await h.refresh();
    const next = await runLaunchPass(h.launchDeps(), plenty);
    expect(next.repeats).toEqual([]);
    expect(next.launched.map((l) => l.uuid)).toEqual([uuid]);
    const entry = await h.store.get(uuid);
    expect({ attempt: entry?.launch?.attempt, intent: entry?.launchIntent }).toEqual({ attempt: 2, intent: undefined });
    const tokens = runInstancesTokens();
    expect(tokens).toHaveLength(2);
    expect(tokens[1]).not.toBe(tokens[0]);
  });

  it("gives the lock back when the repeat finds the lock's instance already terminated (IdempotentInstanceTerminated)", async () => {
    h = await dispatchHarness("", { listingLagMs: 10 * 60_000 });
    const [c] = queued(1);
    const uuid = c?.uuid ?? "";
    await h.refresh();
    await runLaunchPass({ ...h.launchDeps(), cloud: await cloudWith("lose-reply") }, plenty);
    const [instance] = instancesFor(uuid);
    h.ec2sim.killInstance(instance?.instanceId ?? "");
    await h.refresh();
    const next = await runLaunchPass(h.launchDeps(), plenty);
    expect(next.repeats).toEqual([expect.objectContaining({ uuid, outcome: "terminated" })]);
    expect(next.unlocked).toBe(1);
    expect(h.sim.getContainer(uuid)).toMatchObject({ state: "Queued", lock_count: 1 });
    expect(h.ec2sim.stats().instancesLaunched).toBe(1);
  });
});
