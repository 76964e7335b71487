import { afterEach, describe, expect, it } from "vitest";
import { runLaunchPass } from "../../lib/launch/launch-pass.js";
import { type DispatchHarness, dispatchHarness } from "../support/dispatch.js";

let h: DispatchHarness;
afterEach(async () => {
  await h?.close();
});

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
    await h.state.modify((s) => ({ next: { ...s, atCapacityUntil: { "m5.2xlarge": Date.now() + 60_000 } }, result: undefined }));
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
    const report = await runLaunchPass({ ...deps, cloud: { ...cloud, list: () => cloud.list(), launch: launchThenSubmit }, replanMs: 0 }, plenty);
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
    expect(launched.sort()).toEqual([12, 13]);
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

  it("stops at a throttle error and backs off", async () => {
    h = await dispatchHarness();
    h.ec2sim.injectFault({ code: "RequestLimitExceeded", times: 1 });
    queued(2);
    await h.refresh();
    const report = await runLaunchPass(h.launchDeps(), plenty);
    expect(report.throttleErrors).toBe(1);
    const { value } = await h.state.read();
    expect(value.throttledUntil).toBeGreaterThan(Date.now());
    expect(value.throttleDelayMs).toBe(1_000);
    const next = await runLaunchPass(h.launchDeps(), plenty);
    expect(next.limits.throttledForMs).toBeGreaterThan(0);
    expect(next.limits.throttledForMs).toBeLessThanOrEqual(1_000);
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

describe("the RunInstances ClientToken", () => {
  it("returns the same instance for a retried launch of the same lock", async () => {
    h = await dispatchHarness();
    const config = h.config.InstanceTypes.small;
    if (config === undefined) throw new Error("fixture lacks type small");
    const request = { containerUuid: "zzzzz-dz642-000000000000042", lockCount: 3, instanceType: config, subnetIndex: 0, throttleDelayMs: 0 };
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
