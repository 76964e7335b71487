import { afterEach, describe, expect, it } from "vitest";
import { runLaunchPass, wakeAfterPass } from "../../lib/launch/launch-pass.js";
import { shareApi503 } from "../../lib/runtime/share-api-503.js";
import { initialDispatchState } from "../../lib/model/dispatch-state.js";
import { recordApi503 } from "../../lib/store/dispatch-state.js";
import { type DispatchHarness, dispatchHarness } from "../support/dispatch.js";

let h: DispatchHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const plenty = () => 60_000;

describe("§3.3 a 503 from the Arvados API holds the dynamic limit low, whichever function saw it", () => {
  it("a launch pass whose own client saw no 503 still drops maxContainers after one another function shared", async () => {
    const d = await dispatchHarness("MaxInstances: 8");
    h = d;
    for (let i = 0; i < 3; i++)
      d.sim.addContainer({ state: "Queued", runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
    await d.refresh();
    await runLaunchPass(d.launchDeps(), plenty);
    expect((await d.state.read()).value.maxContainers).toBe(8);
    expect(d.api.last503()).toBeUndefined();

    const seen = new Date();
    await recordApi503(d.state, seen);
    await runLaunchPass(d.launchDeps(), plenty);
    const state = (await d.state.read()).value;
    // 3 containers hold instances: just below that workload (§3.3), and the 503 marked as acted on.
    expect(state.maxContainers).toBe(2);
    expect(state.last503Seen).toBe(seen.getTime());
  });

  it("keeps the newest 503: an older report never moves it back", async () => {
    const d = await dispatchHarness();
    h = d;
    await recordApi503(d.state, new Date(2_000_000));
    await recordApi503(d.state, new Date(1_000_000));
    expect((await d.state.read()).value.lastApi503).toBe(2_000_000);
  });

  it("update-queue, choose-instance-types and cleanup share their client's 503 after each invocation, failed ones too", async () => {
    const d = await dispatchHarness();
    h = d;
    d.sim.injectFault({
      route: "GET /arvados/v1/api_client_authorizations/current",
      count: 3,
      effect: { kind: "status", status: 503 },
    });
    await d.api.currentAuthorization().catch(() => undefined);
    const at = d.api.last503();
    expect(at).toBeDefined();
    const middleware = shareApi503({ api: d.api, state: d.state });
    await middleware.onError?.({} as never);
    expect((await d.state.read()).value.lastApi503).toBe(at?.getTime());
  });
});

describe("§3.3 the quota clamp: at quota, the workload becomes the limit and the quota's known size", () => {
  it("after a quota error with 4 instances, maxContainers is 4, not MaxInstances", async () => {
    const d = await dispatchHarness("MaxInstances: 64", { instanceLimit: 4 });
    h = d;
    for (let i = 0; i < 6; i++)
      d.sim.addContainer({ state: "Queued", runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
    await d.refresh();
    // RunInstances is paced at 2 a second (burst 4): a pass that runs out of tokens asks to be
    // woken when the next is back, and the passes below are those wake-ups.
    let quotaErrors = 0;
    for (let pass = 0; pass < 6 && quotaErrors === 0; pass++) {
      const report = await runLaunchPass(d.launchDeps(), plenty);
      quotaErrors += report.quotaErrors;
      if (report.wake?.reason === "throttle")
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, (report.wake?.atMs ?? 0) - Date.now()) + 20));
    }
    expect(quotaErrors).toBe(1);
    await runLaunchPass(d.launchDeps(), plenty);
    const state = (await d.state.read()).value;
    expect(d.ec2sim.instances().filter((i) => i.state !== "terminated")).toHaveLength(4);
    expect(state.instancesWithinQuota).toBe(4);
    expect(state.maxContainers).toBe(4);
  });
});

describe("§3.2 a config change starts the dynamic limit over (upstream: a restart)", () => {
  it("a new MaxInstances takes effect on the next pass instead of drifting there", async () => {
    const d = await dispatchHarness("MaxInstances: 8");
    h = d;
    d.sim.addContainer({ state: "Queued", runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
    await d.refresh();
    await runLaunchPass(d.launchDeps(), plenty);
    expect((await d.state.read()).value.maxContainers).toBe(8);
    const redeployed = {
      ...d.config,
      Containers: { ...d.config.Containers, CloudVMs: { ...d.config.Containers.CloudVMs, MaxInstances: 2 } },
    };
    await runLaunchPass({ ...d.launchDeps(), config: redeployed }, plenty);
    expect((await d.state.read()).value.maxContainers).toBe(2);
  });
});

describe("§4.3 launch state persists whatever the error", () => {
  it("stores the subnet a failed call ended on, so the next call starts past a missing subnet", async () => {
    const d = await dispatchHarness();
    h = d;
    // subnet-a does not exist; subnet-b answers an error that is neither capacity nor subnet-specific.
    d.ec2sim.injectFault({ code: "InvalidSubnetID.NotFound", subnetId: "subnet-a" });
    d.ec2sim.injectFault({ code: "InvalidParameterCombination", subnetId: "subnet-b", times: 1 });
    d.sim.addContainer({ state: "Queued", runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
    await d.refresh();
    const first = await runLaunchPass(d.launchDeps(), plenty);
    expect(first.launched).toHaveLength(0);
    expect((await d.state.read()).value.subnetIndex).toBe(1);
    const second = await runLaunchPass(d.launchDeps(), plenty);
    expect(second.launched).toHaveLength(1);
    const calls = d.ec2sim.requests().filter((r) => r.action === "RunInstances");
    // The second pass went straight to subnet-b: no third call into the missing subnet.
    expect(calls.map((r) => r.params.SubnetId ?? r.params["NetworkInterface.1.SubnetId"])).toEqual([
      "subnet-a",
      "subnet-b",
      "subnet-b",
    ]);
  });

  it("resets the throttle backoff after an error that is not a throttle (wrapError)", async () => {
    const d = await dispatchHarness();
    h = d;
    await d.state.modify((s) => ({ next: { ...s, throttleDelayMs: 4_750 }, result: undefined }));
    d.ec2sim.injectFault({ code: "InvalidParameterCombination", times: 2 });
    d.sim.addContainer({ state: "Queued", runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
    await d.refresh();
    await runLaunchPass(d.launchDeps(), plenty);
    expect((await d.state.read()).value.throttleDelayMs).toBe(0);
  });
});

describe("§3.7 and §4.3 metrics upstream's operators look for", () => {
  it("counts a container whose instance is still booting as waiting, and reports allocation and starts by subnet", async () => {
    let skewMs = 0;
    const d = await dispatchHarness("MaxInstances: 8", { pendingMs: 3_600_000 }, () => new Date(Date.now() + skewMs));
    h = d;
    d.sim.addContainer({ state: "Queued", runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
    await d.refresh();
    await runLaunchPass(d.launchDeps(), plenty);
    skewMs = 120_000;
    const report = await runLaunchPass(d.launchDeps(), plenty);
    expect(d.ec2sim.instances().map((i) => i.state)).toEqual(["pending"]);
    // Upstream: not in pool.Running() until crunch-run starts, so still waiting (§3.7).
    expect(report.oldestQueuedAgeSeconds).toBeGreaterThanOrEqual(115);
    expect(report.allocatedNotStarted).toBe(1);
    expect(report.overQuota).toBe(0);
    expect(report.atQuota).toBe(false);
  });

  it("records each RunInstances call's subnet and success (ec2_instance_starts_total)", async () => {
    const d = await dispatchHarness();
    h = d;
    d.ec2sim.injectFault({ code: "InsufficientFreeAddressesInSubnet", subnetId: "subnet-a", times: 1 });
    d.sim.addContainer({ state: "Queued", runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
    await d.refresh();
    const report = await runLaunchPass(d.launchDeps(), plenty);
    expect(report.instanceStarts).toEqual([
      { subnetId: "subnet-a", success: false },
      { subnetId: "subnet-b", success: true },
    ]);
  });
});

describe("§4.1 a throttle, quota or capacity window that expires wakes the scheduler: the pass schedules its retry, it never waits", () => {
  it("a pass stopped by RequestLimitExceeded asks to be woken at the backoff's end, and returns at once", async () => {
    const d = await dispatchHarness();
    h = d;
    d.ec2sim.injectFault({ code: "RequestLimitExceeded", times: 1 });
    d.sim.addContainer({ state: "Queued", runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
    await d.refresh();
    const report = await runLaunchPass(d.launchDeps(), plenty);
    expect(report.throttleErrors).toBe(1);
    expect(report.launched).toHaveLength(0);
    expect(report.wake?.reason).toBe("throttle");
    expect(report.wake?.atMs).toBe((await d.state.read()).value.throttledUntil);
  });

  it("a quota window (a minute with no instance running, §4.1 quotaErrorTTL) is woken at its end, not left to the sweep", async () => {
    const d = await dispatchHarness("", { instanceLimit: 0 });
    h = d;
    d.sim.addContainer({ state: "Queued", runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
    await d.refresh();
    const report = await runLaunchPass(d.launchDeps(), plenty);
    expect(report.quotaErrors).toBe(1);
    expect(report.launched).toHaveLength(0);
    const { atQuotaUntil } = (await d.state.read()).value;
    expect(report.wake).toEqual({ atMs: atQuotaUntil, reason: "quota" });
  });

  it("a container waiting only for capacity is woken when the first capacity window ends (§3.3 8.4)", () => {
    const state = {
      ...initialDispatchState(10),
      atCapacityUntil: { "m5.large": 70_000, "m5.xlarge": 65_000, "r5.large": 1_000 },
    };
    expect(wakeAfterPass({ stoppedBy: undefined, leftOver: false, capacityBlocked: 1, state, now: 5_000 })).toEqual({
      atMs: 65_000,
      reason: "capacity",
    });
    // Nothing waits for capacity: no wake-up.
    expect(
      wakeAfterPass({ stoppedBy: undefined, leftOver: false, capacityBlocked: 0, state, now: 5_000 }),
    ).toBeUndefined();
  });

  it("a backlog the pass had no time for goes on at once; a pass with nothing left asks for nothing", () => {
    const state = initialDispatchState(10);
    expect(wakeAfterPass({ stoppedBy: undefined, leftOver: true, capacityBlocked: 0, state, now: 5_000 })).toEqual({
      atMs: 5_000,
      reason: "backlog",
    });
    expect(
      wakeAfterPass({ stoppedBy: undefined, leftOver: false, capacityBlocked: 0, state, now: 5_000 }),
    ).toBeUndefined();
    // Our own RunInstances bucket empty (no EC2 throttle): woken when it is full again (burst 4 at 2 a second).
    expect(wakeAfterPass({ stoppedBy: "throttle", leftOver: false, capacityBlocked: 0, state, now: 5_000 })).toEqual({
      atMs: 7_000,
      reason: "throttle",
    });
  });

  it("a pass that finds another planning asks to run again shortly instead of waiting for its lease", async () => {
    const d = await dispatchHarness();
    h = d;
    expect(await d.store.acquireLaunchPassLease("someone-else", Date.now(), 60_000)).toBe(true);
    const before = Date.now();
    const report = await runLaunchPass(d.launchDeps(), plenty);
    expect(report.ran).toBe(false);
    expect(report.wake?.reason).toBe("backlog");
    expect(report.wake?.atMs).toBeGreaterThan(before);
  });
});
