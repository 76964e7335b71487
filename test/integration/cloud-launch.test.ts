import type { EC2Client } from "@aws-sdk/client-ec2";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Ec2CapacityError, Ec2Error, Ec2QuotaError, Ec2ThrottleError } from "../../lib/model/cloud-errors.js";
import { createTags, listInstances, terminateInstances } from "../../lib/cloud/instances.js";
import { type LaunchState, launchInstance } from "../../lib/cloud/launch.js";
import type { RunInstancesArgs } from "../../lib/cloud/run-instances-input.js";
import type { InstanceType } from "../../lib/model/instance-type.js";
import { Ec2Simulator } from "../../local/ec2-sim/simulator.js";
import { localEc2Client } from "../support/ec2.js";
import { containerUuid, ec2Driver, instanceType, runInstancesArgs } from "../support/fixtures.js";

const instanceSetId = "zzzzz-gj3su-000000000000000";

/** The i-th type on an m5 size, so the provider type is one EC2 (and the simulator) knows. */
const m5 = (i: number, over: Partial<InstanceType> = {}) => instanceType(i, { ProviderType: `m5.${i}xlarge`, ...over });

function launchArgs(
  i: number,
  subnets: string[] = [],
  over: Partial<RunInstancesArgs> = {},
): Omit<RunInstancesArgs, "subnetId"> {
  return runInstancesArgs({
    instanceType: m5(1),
    config: {
      ImageID: "ami-0123",
      TagKeyPrefix: "Arvados",
      ResourceTags: {},
      DriverParameters: ec2Driver({ SubnetID: subnets, InstanceTypeQuotaGroups: { m: "standard" } }),
    },
    instanceSetId,
    containerUuid: containerUuid(i),
    instanceSecret: `secret${i}`,
    ...over,
  });
}

const fresh: LaunchState = { subnetIndex: 0, throttleDelayMs: 0 };

let sim: Ec2Simulator;
let ec2: EC2Client;

beforeEach(async () => {
  sim = new Ec2Simulator();
  const endpoint = await sim.start();
  ec2 = localEc2Client(endpoint);
});

afterEach(async () => {
  ec2.destroy();
  await sim.stop();
});

/** The subnets RunInstances was called with, in order. */
const triedSubnets = () =>
  sim
    .requests()
    .filter((r) => r.action === "RunInstances")
    .map((r) => r.params["NetworkInterface.1.SubnetId"]);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => expect.fail("expected a rejection"),
    (err: unknown) => err,
  );
}

describe("a retried launch of the same attempt never starts a second instance", () => {
  it("returns the instance of the first call for the same container, lock_count, type and subnet", async () => {
    const first = await launchInstance(ec2, launchArgs(1, ["subnet-a"]), fresh);
    const again = await launchInstance(ec2, launchArgs(1, ["subnet-a"]), fresh);
    expect(again.instanceId).toBe(first.instanceId);
    expect(sim.runInstancesCalls()).toBe(2);
    expect(sim.instances()).toHaveLength(1);
  });

  it("starts a new instance for the next lock_count", async () => {
    const first = await launchInstance(ec2, launchArgs(1), fresh);
    const next = await launchInstance(ec2, launchArgs(1, [], { attempt: 2 }), fresh);
    expect(next.instanceId).not.toBe(first.instanceId);
    expect(sim.instances()).toHaveLength(2);
  });
});

describe("the subnet loop tries the next subnet only after a subnet-specific error (§4.3)", () => {
  const subnets = ["subnet-a", "subnet-b", "subnet-c"];

  it("starts at the stored index, fails over, and returns the index of the subnet used", async () => {
    sim.injectFault({ code: "InsufficientInstanceCapacity", subnetId: "subnet-b" });
    sim.injectFault({ code: "InsufficientFreeAddressesInSubnet", subnetId: "subnet-c" });
    const seen: { subnetId: string; success: boolean }[] = [];
    const r = await launchInstance(
      ec2,
      launchArgs(1, subnets),
      { subnetIndex: 1, throttleDelayMs: 0 },
      {
        onAttempt: (a) => seen.push(a),
      },
    );
    expect(triedSubnets()).toEqual(["subnet-b", "subnet-c", "subnet-a"]);
    expect(r).toMatchObject({ subnetId: "subnet-a", nextSubnetIndex: 0 });
    expect(sim.instance(r.instanceId)?.subnetId).toBe("subnet-a");
    expect(seen).toEqual([
      { subnetId: "subnet-b", success: false },
      { subnetId: "subnet-c", success: false },
      { subnetId: "subnet-a", success: true },
    ]);
  });

  it("sends each subnet's try with its own ClientToken, so EC2 accepts the failover", async () => {
    sim.injectFault({ code: "InsufficientInstanceCapacity", subnetId: "subnet-a" });
    await launchInstance(ec2, launchArgs(1, subnets), fresh);
    const tokens = sim.requests().map((r) => r.params.ClientToken);
    expect(tokens).toHaveLength(2);
    expect(new Set(tokens).size).toBe(2);
  });

  it("stops at a non-subnet-specific error and stores that subnet's index", async () => {
    sim.injectFault({ code: "InstanceLimitExceeded" });
    const err = await rejection(launchInstance(ec2, launchArgs(1, subnets), { subnetIndex: 2, throttleDelayMs: 0 }));
    expect(err).toBeInstanceOf(Ec2QuotaError);
    expect(err).toMatchObject({ nextSubnetIndex: 2, subnetId: "subnet-c" });
    expect(triedSubnets()).toEqual(["subnet-c"]);
  });

  it("reports the last capacity error rather than a later non-capacity one, and stores the last index", async () => {
    sim.injectFault({ code: "InsufficientInstanceCapacity", subnetId: "subnet-a" });
    sim.injectFault({ code: "InvalidSubnetID.NotFound", subnetId: "subnet-b", message: "no such subnet" });
    sim.injectFault({ code: "InsufficientFreeAddressesInSubnet", subnetId: "subnet-c" });
    const err = await rejection(launchInstance(ec2, launchArgs(1, subnets), fresh));
    expect(err).toBeInstanceOf(Ec2CapacityError);
    expect(err).toMatchObject({
      scope: "instanceType",
      capacityKey: "m5.1xlarge",
      subnetId: "subnet-a",
      nextSubnetIndex: 2,
    });
  });

  it("reports a final InsufficientFreeAddressesInSubnet as a quota error", async () => {
    for (const s of subnets) sim.injectFault({ code: "InsufficientFreeAddressesInSubnet", subnetId: s });
    const err = await rejection(launchInstance(ec2, launchArgs(1, subnets), fresh));
    expect(err).toBeInstanceOf(Ec2QuotaError);
    expect(triedSubnets()).toEqual(subnets);
  });

  it("makes one call without a subnet when none is configured", async () => {
    const r = await launchInstance(ec2, launchArgs(1, []), { subnetIndex: 7, throttleDelayMs: 0 });
    expect(r).toMatchObject({ subnetId: undefined, nextSubnetIndex: 0 });
    expect(triedSubnets()).toEqual([undefined]);
  });
});

describe("a launch intent can be written before each call, and a call of unknown outcome is never followed by another", () => {
  const subnets = ["subnet-a", "subnet-b", "subnet-c"];

  it("awaits beforeCall before each call, naming the failed call it follows", async () => {
    sim.injectFault({ code: "InsufficientInstanceCapacity", subnetId: "subnet-a" });
    const seen: { call: string; follows: string | undefined; callsSoFar: number }[] = [];
    const r = await launchInstance(ec2, launchArgs(1, subnets), fresh, {
      beforeCall: async (call, follows) => {
        seen.push({
          call: `${call.subnetId}:${call.clientToken}`,
          follows: follows?.clientToken,
          callsSoFar: sim.runInstancesCalls(),
        });
      },
    });
    const tokens = sim.requests().map((q) => q.params.ClientToken);
    expect(seen).toEqual([
      { call: `subnet-a:${tokens[0]}`, follows: undefined, callsSoFar: 0 },
      { call: `subnet-b:${tokens[1]}`, follows: tokens[0], callsSoFar: 1 },
    ]);
    expect(r.clientToken).toBe(tokens[1]);
  });

  it("sends nothing once beforeCall rejects", async () => {
    const refused = new Error("intent refused");
    const err = await rejection(
      launchInstance(ec2, launchArgs(1, subnets), fresh, { beforeCall: () => Promise.reject(refused) }),
    );
    expect(err).toBe(refused);
    expect(sim.runInstancesCalls()).toBe(0);
  });

  it("ends the subnet loop at a call of unknown outcome and reports that call, not an earlier capacity error", async () => {
    sim.injectFault({ code: "InsufficientInstanceCapacity", subnetId: "subnet-a" });
    sim.injectFault({ code: "InternalError", subnetId: "subnet-b", status: 500 });
    const err = await rejection(launchInstance(ec2, launchArgs(1, subnets), fresh));
    expect(err).toBeInstanceOf(Ec2Error);
    expect(err).not.toBeInstanceOf(Ec2CapacityError);
    expect(err).toMatchObject({ code: "InternalError", outcome: "unknown", subnetId: "subnet-b", nextSubnetIndex: 1 });
    expect(triedSubnets()).toEqual(["subnet-a", "subnet-b"]);
  });

  it("repeats one call exactly: its subnet and ClientToken only, whatever the subnets configured now, and gets its instance back", async () => {
    const first = await launchInstance(ec2, launchArgs(1, subnets), { subnetIndex: 2, throttleDelayMs: 0 });
    const repeat = { subnetId: first.subnetId, clientToken: first.clientToken };
    const again = await launchInstance(ec2, launchArgs(1, ["subnet-x"]), fresh, { repeat });
    expect(again).toMatchObject({ instanceId: first.instanceId, subnetId: "subnet-c", clientToken: first.clientToken });
    expect(triedSubnets()).toEqual(["subnet-c", "subnet-c"]);
    expect(sim.instances()).toHaveLength(1);
  });

  it("repeats a capacity-failed call once, without moving on to another subnet", async () => {
    sim.injectFault({ code: "InsufficientInstanceCapacity" });
    const repeat = { subnetId: "subnet-a", clientToken: "zzzzz-dz642-000000000000001-1-0123456789abcdef" };
    const err = await rejection(launchInstance(ec2, launchArgs(1, subnets), fresh, { repeat }));
    expect(err).toMatchObject({ outcome: "failed" });
    expect(err).toBeInstanceOf(Ec2CapacityError);
    expect(sim.requests().map((q) => [q.params["NetworkInterface.1.SubnetId"], q.params.ClientToken])).toEqual([
      ["subnet-a", repeat.clientToken],
    ]);
  });
});

describe("each EC2 failure surfaces as its classified error (§4.3 wrapError)", () => {
  it.each([
    ["InsufficientInstanceCapacity", Ec2CapacityError, { scope: "instanceType", capacityKey: "m5.1xlarge" }],
    ["VcpuLimitExceeded", Ec2CapacityError, { scope: "quotaGroup", capacityKey: "standard" }],
    ["InstanceLimitExceeded", Ec2QuotaError, { code: "InstanceLimitExceeded" }],
    ["InsufficientFreeAddressesInSubnet", Ec2QuotaError, { code: "InsufficientFreeAddressesInSubnet" }],
    ["RequestLimitExceeded", Ec2ThrottleError, { retryAfterMs: 4750, throttleDelayMs: 4750 }],
    ["InvalidAMIID.NotFound", Ec2Error, { code: "InvalidAMIID.NotFound", fault: "client", throttleDelayMs: 0 }],
  ] as const)("%s → %s", async (code, cls, facts) => {
    sim.injectFault({ code });
    const err = await rejection(
      launchInstance(ec2, launchArgs(1, ["subnet-a"]), { subnetIndex: 0, throttleDelayMs: 2500 }),
    );
    expect(err).toBeInstanceOf(cls);
    expect(err).toMatchObject(facts);
  });

  it("keys a preemptible type's capacity error with -preemptible", async () => {
    sim.injectFault({ code: "InsufficientInstanceCapacity" });
    const spot = launchArgs(1, [], { instanceType: m5(2, { Preemptible: true }) });
    expect(await rejection(launchInstance(ec2, spot, fresh))).toMatchObject({ capacityKey: "m5.2xlarge-preemptible" });
  });

  it("classifies the simulator's token-bucket throttle as Ec2ThrottleError", async () => {
    await sim.stop();
    sim = new Ec2Simulator({ throttle: true, now: () => 0 });
    ec2 = localEc2Client(await sim.start());
    for (let i = 1; i <= 5; i++) await launchInstance(ec2, launchArgs(i), fresh);
    const err = await rejection(launchInstance(ec2, launchArgs(6), fresh));
    expect(err).toBeInstanceOf(Ec2ThrottleError);
    expect(sim.stats().throttled).toBe(1);
  });

  it("reports an unreachable endpoint as a transport fault", async () => {
    await sim.stop();
    const err = await rejection(launchInstance(ec2, launchArgs(1), fresh));
    expect(err).toBeInstanceOf(Ec2Error);
    expect(err).toMatchObject({ fault: "transport", throttleDelayMs: 0 });
  });
});

describe("listInstances returns the live instances of this instance set, all pages (§4.3 Instances)", () => {
  it("pages with NextToken, filters by the set's tag, and skips shutting-down and terminated", async () => {
    const ids: string[] = [];
    for (let i = 1; i <= 12; i++) ids.push((await launchInstance(ec2, launchArgs(i), fresh)).instanceId);
    await launchInstance(ec2, launchArgs(99, [], { instanceSetId: "zzzzz-gj3su-otherdispatcher" }), fresh);
    await terminateInstances(ec2, [ids[0] ?? ""]);
    sim.tick();
    await terminateInstances(ec2, [ids[1] ?? ""]);
    const before = sim.stats().calls.DescribeInstances ?? 0;

    const listed = await listInstances(ec2, { tagKeyPrefix: "Arvados", instanceSetId, pageSize: 5 });

    expect(listed.map((c) => c.instanceId).sort()).toEqual(ids.slice(2).sort());
    expect((sim.stats().calls.DescribeInstances ?? 0) - before).toBe(3);
  });

  it("maps each instance to plain data with our type name and container uuid from the tags", async () => {
    const r = await launchInstance(
      ec2,
      launchArgs(3, ["subnet-a"], { instanceType: m5(2, { Preemptible: true }) }),
      fresh,
    );
    const [c] = await listInstances(ec2, { tagKeyPrefix: "Arvados", instanceSetId });
    expect(c).toMatchObject({
      instanceId: r.instanceId,
      instanceType: "type2",
      providerType: "m5.2xlarge",
      containerUuid: containerUuid(3),
      spot: true,
      subnetId: "subnet-a",
      state: "running",
    });
    expect(c?.privateIp).toMatch(/^10\./);
    expect(Number.isNaN(Date.parse(c?.launchTime ?? ""))).toBe(false);
  });
});

describe("terminateInstances terminates what exists and reports ids EC2 no longer knows", () => {
  it("terminates the others when one id in the batch is unknown", async () => {
    const a = await launchInstance(ec2, launchArgs(1), fresh);
    const b = await launchInstance(ec2, launchArgs(2), fresh);
    const r = await terminateInstances(ec2, [a.instanceId, "i-0000000000000dead", b.instanceId]);
    expect(r.notFound).toEqual(["i-0000000000000dead"]);
    expect(r.terminated.map((t) => [t.instanceId, t.currentState])).toEqual([
      [a.instanceId, "shutting-down"],
      [b.instanceId, "shutting-down"],
    ]);
    expect(await listInstances(ec2, { tagKeyPrefix: "Arvados", instanceSetId })).toEqual([]);
  });
});

describe("createTags sets tags on instances (upstream SetTags)", () => {
  it("adds a tag that the next listing shows", async () => {
    const r = await launchInstance(ec2, launchArgs(1), fresh);
    await createTags(ec2, [r.instanceId], { ArvadosIdleBehavior: "hold" });
    const [c] = await listInstances(ec2, { tagKeyPrefix: "Arvados", instanceSetId });
    expect(c?.tags.ArvadosIdleBehavior).toBe("hold");
  });
});
