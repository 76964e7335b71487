import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  type EC2Client,
  type Instance,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { afterEach, describe, expect, it } from "vitest";
import { Ec2Simulator } from "../../local/ec2-sim/simulator.js";
import type { Ec2SimulatorOptions } from "../../local/ec2-sim/sim-state.js";
import { localEc2Client } from "../support/ec2.js";

let sim: Ec2Simulator;
let ec2: EC2Client;
let clock = 0;

/** A fresh simulator on a free loopback port with a manual clock, and a real SDK client for it. */
async function startSim(options: Ec2SimulatorOptions = {}): Promise<string> {
  clock = Date.UTC(2025, 0, 1);
  sim = new Ec2Simulator({ now: () => clock, ...options });
  const endpoint = await sim.start();
  ec2 = localEc2Client(endpoint);
  return endpoint;
}

afterEach(async () => {
  ec2?.destroy();
  await sim?.stop();
});

/** A RunInstances input like the dispatcher's, for container `i`. */
function runInput(i: number, over: Partial<RunInstancesCommandInput> = {}): RunInstancesCommandInput {
  return {
    ImageId: "ami-0123",
    InstanceType: "m5.large",
    MinCount: 1,
    MaxCount: 1,
    ClientToken: `token-${i}`,
    NetworkInterfaces: [
      { AssociatePublicIpAddress: false, DeleteOnTermination: true, DeviceIndex: 0, SubnetId: "subnet-a" },
    ],
    TagSpecifications: [
      {
        ResourceType: "instance",
        Tags: [
          { Key: "ArvadosInstanceSetID", Value: i % 2 === 0 ? "even" : "odd" },
          { Key: "ArvadosInstanceSecret", Value: `secret-${i}` },
        ],
      },
    ],
    UserData: Buffer.from(`#!/bin/sh\necho ${i}\n`).toString("base64"),
    ...over,
  };
}

async function run(i: number, over: Partial<RunInstancesCommandInput> = {}): Promise<Instance> {
  const r = await ec2.send(new RunInstancesCommand(runInput(i, over)));
  const inst = r.Instances?.[0];
  if (!inst) throw new Error("no instance in reply");
  return inst;
}

async function describeAll(input: DescribeInstancesCommandInput = {}): Promise<Instance[]> {
  const r = await ec2.send(new DescribeInstancesCommand(input));
  return (r.Reservations ?? []).flatMap((x) => x.Instances ?? []);
}

async function errorCode(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => expect.fail("expected an EC2 error"),
    (err: unknown) => (err instanceof Error ? err.name : String(err)),
  );
}

describe("RunInstances starts one pending instance with what was asked", () => {
  it("answers a reservation with the instance, its tags, subnet and client token", async () => {
    await startSim();
    const inst = await run(1, { InstanceMarketOptions: { MarketType: "spot", SpotOptions: { MaxPrice: "0.1" } } });
    expect(inst).toMatchObject({
      InstanceType: "m5.large",
      State: { Code: 0, Name: "pending" },
      SubnetId: "subnet-a",
      ClientToken: "token-1",
      InstanceLifecycle: "spot",
      MetadataOptions: { HttpTokens: "optional" },
    });
    expect(inst.InstanceId).toMatch(/^i-[0-9a-f]{17}$/);
    expect(inst.Tags).toContainEqual({ Key: "ArvadosInstanceSetID", Value: "odd" });
    expect(inst.LaunchTime).toEqual(new Date(clock));
    expect(inst.PublicIpAddress).toBeUndefined();
  });

  it("keeps the launch parameters for inspection: user data decoded, market, devices, IMDS", async () => {
    await startSim();
    const inst = await run(1, {
      MetadataOptions: { HttpEndpoint: "enabled", HttpTokens: "required" },
      BlockDeviceMappings: [
        { DeviceName: "/dev/xvdt", Ebs: { VolumeSize: 51, VolumeType: "gp3", DeleteOnTermination: true } },
      ],
      IamInstanceProfile: { Name: "compute" },
      InstanceInitiatedShutdownBehavior: "terminate",
    });
    expect(sim.instance(inst.InstanceId ?? "")).toMatchObject({
      userData: "#!/bin/sh\necho 1\n",
      market: "on-demand",
      blockDevices: [{ deviceName: "/dev/xvdt", volumeSize: 51, volumeType: "gp3", deleteOnTermination: true }],
      metadataOptions: { httpEndpoint: "enabled", httpTokens: "required" },
      iamInstanceProfile: "compute",
      shutdownBehavior: "terminate",
      associatePublicIpAddress: false,
    });
  });

  it("rejects MinCount below 1 or above MaxCount, and a ClientToken over 64 characters", async () => {
    await startSim();
    expect(await errorCode(run(1, { MinCount: 0 }))).toBe("InvalidParameterValue");
    expect(await errorCode(run(1, { MinCount: 2, MaxCount: 1 }))).toBe("InvalidParameterValue");
    expect(await errorCode(run(1, { ClientToken: "x".repeat(65) }))).toBe("InvalidParameterValue");
    expect(sim.instances()).toEqual([]);
  });
});

describe("RunInstances honours ClientToken as EC2 does", () => {
  it("returns the same instance for the same token and parameters, launching only once", async () => {
    await startSim();
    const a = await run(1);
    const b = await run(1);
    expect(b.InstanceId).toBe(a.InstanceId);
    expect(sim.stats()).toMatchObject({ runInstancesCalls: 2, instancesLaunched: 1 });
  });

  it("answers IdempotentParameterMismatch for the same token with other parameters", async () => {
    await startSim();
    await run(1);
    expect(await errorCode(run(1, { InstanceType: "m5.xlarge" }))).toBe("IdempotentParameterMismatch");
    expect(sim.instances()).toHaveLength(1);
  });

  it("binds a token to a failed request's parameters too", async () => {
    await startSim();
    sim.injectFault({ code: "InsufficientInstanceCapacity", times: 1 });
    expect(await errorCode(run(1))).toBe("InsufficientInstanceCapacity");
    expect(await errorCode(run(1, { InstanceType: "m5.xlarge" }))).toBe("IdempotentParameterMismatch");
    expect((await run(1)).State?.Name).toBe("pending");
  });

  it("answers IdempotentInstanceTerminated once the token's instance has terminated", async () => {
    await startSim();
    const a = await run(1);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a.InstanceId ?? ""] }));
    sim.tick();
    expect(await errorCode(run(1))).toBe("IdempotentInstanceTerminated");
  });
});

describe("DescribeInstances filters and pages like EC2", () => {
  it("pages over more instances than MaxResults with NextToken, in launch order", async () => {
    await startSim();
    const launched: string[] = [];
    for (let i = 1; i <= 12; i++) launched.push((await run(i)).InstanceId ?? "");
    const seen: string[] = [];
    const pageSizes: number[] = [];
    let token: string | undefined;
    do {
      const r = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5, NextToken: token }));
      const ids = (r.Reservations ?? []).flatMap((x) => x.Instances ?? []).map((i) => i.InstanceId ?? "");
      pageSizes.push(ids.length);
      seen.push(...ids);
      token = r.NextToken;
    } while (token);
    expect(pageSizes).toEqual([5, 5, 2]);
    expect(seen).toEqual(launched);
  });

  it("filters by tag:K, tag-key, instance-type and instance-state-name, ANDing filters and ORing values", async () => {
    await startSim();
    for (let i = 1; i <= 4; i++) await run(i, i === 4 ? { InstanceType: "c5.large" } : {});
    const odd = await describeAll({ Filters: [{ Name: "tag:ArvadosInstanceSetID", Values: ["odd"] }] });
    expect(odd.map((i) => i.ClientToken)).toEqual(["token-1", "token-3"]);
    const c5even = await describeAll({
      Filters: [
        { Name: "tag:ArvadosInstanceSetID", Values: ["even"] },
        { Name: "instance-type", Values: ["c5.large", "x1.large"] },
      ],
    });
    expect(c5even.map((i) => i.ClientToken)).toEqual(["token-4"]);
    expect(await describeAll({ Filters: [{ Name: "tag-key", Values: ["ArvadosInstanceSecret"] }] })).toHaveLength(4);
    expect(await describeAll({ Filters: [{ Name: "tag-key", Values: ["Nope"] }] })).toHaveLength(0);
    expect(
      await describeAll({ Filters: [{ Name: "instance-state-name", Values: ["pending", "running"] }] }),
    ).toHaveLength(4);
  });

  it("describes listed ids, and refuses unknown ids and ids combined with MaxResults", async () => {
    await startSim();
    const a = await run(1);
    await run(2);
    expect((await describeAll({ InstanceIds: [a.InstanceId ?? ""] })).map((i) => i.InstanceId)).toEqual([a.InstanceId]);
    expect(await errorCode(describeAll({ InstanceIds: ["i-00000000000000bad"] }))).toBe("InvalidInstanceID.NotFound");
    expect(await errorCode(describeAll({ InstanceIds: [a.InstanceId ?? ""], MaxResults: 5 }))).toBe(
      "InvalidParameterCombination",
    );
    expect(await errorCode(describeAll({ Filters: [{ Name: "no-such-filter", Values: ["x"] }] }))).toBe(
      "InvalidParameterValue",
    );
  });
});

describe("instances move pending → running → shutting-down → terminated → gone", () => {
  it("by default runs on the next DescribeInstances and terminates on the one after TerminateInstances", async () => {
    await startSim({ terminatedRetentionMs: 60_000 });
    const a = await run(1);
    expect((await describeAll())[0]?.State?.Name).toBe("running");
    const t = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a.InstanceId ?? ""] }));
    expect(t.TerminatingInstances?.[0]).toMatchObject({
      InstanceId: a.InstanceId,
      PreviousState: { Code: 16, Name: "running" },
      CurrentState: { Code: 32, Name: "shutting-down" },
    });
    const [terminated] = await describeAll();
    expect(terminated?.State?.Name).toBe("terminated");
    expect(terminated?.StateReason?.Code).toBe("Client.UserInitiatedShutdown");
    sim.advance(59_999);
    expect(await describeAll()).toHaveLength(1);
    sim.advance(1);
    expect(await describeAll()).toHaveLength(0);
  });

  it("with durations configured, changes state only when the sim clock has passed them", async () => {
    await startSim({ pendingMs: 30_000, shuttingDownMs: 10_000 });
    const a = await run(1);
    clock += 29_999;
    expect((await describeAll())[0]?.State?.Name).toBe("pending");
    clock += 1;
    expect((await describeAll())[0]?.State?.Name).toBe("running");
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a.InstanceId ?? ""] }));
    sim.advance(9_999);
    expect((await describeAll())[0]?.State?.Name).toBe("shutting-down");
    sim.advance(1);
    expect((await describeAll())[0]?.State?.Name).toBe("terminated");
  });

  it("bills an instance as EC2 does: from running until shutting-down, nothing while pending", async () => {
    await startSim({ pendingMs: 30_000, shuttingDownMs: 10_000 });
    const a = await run(1);
    clock += 30_000;
    await describeAll();
    expect(sim.billedMs(a.InstanceId ?? "")).toBe(0);
    clock += 120_000;
    expect(sim.billedMs(a.InstanceId ?? "")).toBe(120_000);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a.InstanceId ?? ""] }));
    clock += 60_000;
    await describeAll();
    expect(sim.billedMs(a.InstanceId ?? "")).toBe(120_000);
    const never = await run(2);
    expect(sim.billedMs(never.InstanceId ?? "")).toBe(0);
  });

  it("instancesWhere copies only the instances its filter keeps, terminated ones included when asked", async () => {
    await startSim({ terminatedRetentionMs: 60_000 });
    const [a, b] = [await run(1), await run(2)];
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a.InstanceId ?? ""] }));
    sim.tick();
    expect(sim.instancesWhere((i) => i.state === "running").map((i) => i.instanceId)).toEqual([b.InstanceId]);
    expect(sim.instancesWhere((i) => i.state === "terminated").map((i) => i.instanceId)).toEqual([a.InstanceId]);
    const [copy] = sim.instancesWhere((i) => i.instanceId === b.InstanceId);
    if (copy !== undefined) copy.state = "stopped";
    expect(sim.instance(b.InstanceId ?? "")?.state).toBe("running");
  });

  it("tick() completes every transition at once", async () => {
    await startSim({ pendingMs: 1e9 });
    await run(1);
    sim.tick();
    expect(sim.instances()[0]?.state).toBe("running");
  });
});

describe("DescribeInstances lists eventually when a listing lag is set (EC2's eventual consistency)", () => {
  it("lists a new instance only once the lag has passed, while RunInstances with its token returns it at once", async () => {
    await startSim({ listingLagMs: 3_000 });
    const a = await run(1);
    expect(await describeAll()).toEqual([]);
    expect(await errorCode(describeAll({ InstanceIds: [a.InstanceId ?? ""] }))).toBe("InvalidInstanceID.NotFound");
    expect((await run(1)).InstanceId).toBe(a.InstanceId);
    expect(sim.stats().instancesLaunched).toBe(1);
    clock += 2_999;
    expect(await describeAll()).toEqual([]);
    clock += 1;
    expect((await describeAll()).map((i) => i.InstanceId)).toEqual([a.InstanceId]);
  });

  it("shows each state change only once the lag has passed, with the state reason of the time", async () => {
    await startSim({ listingLagMs: 3_000, pendingMs: 1_000, shuttingDownMs: 0 });
    const a = await run(1);
    clock += 3_000;
    expect((await describeAll())[0]?.State?.Name).toBe("pending");
    clock += 1_000;
    expect((await describeAll())[0]?.State?.Name).toBe("running");
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a.InstanceId ?? ""] }));
    expect(sim.instance(a.InstanceId ?? "")?.state).toBe("terminated");
    clock += 2_999;
    const [stillRunning] = await describeAll();
    expect({ state: stillRunning?.State?.Name, reason: stillRunning?.StateReason?.Code }).toEqual({
      state: "running",
      reason: undefined,
    });
    clock += 1;
    const [terminated] = await describeAll();
    expect({ state: terminated?.State?.Name, reason: terminated?.StateReason?.Code }).toEqual({
      state: "terminated",
      reason: "Client.UserInitiatedShutdown",
    });
  });

  it("is off by default, and set or read through setListingLag or POST /_sim/listing-lag", async () => {
    const url = await startSim();
    await run(1);
    expect(await describeAll()).toHaveLength(1);
    const reply = await fetch(`${url}/_sim/listing-lag`, { method: "POST", body: JSON.stringify({ ms: 5_000 }) });
    expect(await reply.json()).toEqual({ ms: 5_000 });
    expect(sim.listingLag()).toBe(5_000);
    await run(2);
    expect(await describeAll()).toHaveLength(0);
    sim.setListingLag(0);
    expect(await describeAll()).toHaveLength(2);
    expect((await fetch(`${url}/_sim/listing-lag`, { method: "POST", body: JSON.stringify({ ms: -1 }) })).status).toBe(
      400,
    );
  });
});

describe("controls make instances fail the way EC2 instances do", () => {
  it("interruptSpot shuts a spot instance down with Server.SpotInstanceTermination, and refuses on-demand", async () => {
    await startSim();
    const spot = await run(1, { InstanceMarketOptions: { MarketType: "spot" } });
    const onDemand = await run(2);
    sim.interruptSpot(spot.InstanceId ?? "");
    expect(sim.instance(spot.InstanceId ?? "")).toMatchObject({
      state: "shutting-down",
      stateReason: { code: "Server.SpotInstanceTermination" },
    });
    expect(() => sim.interruptSpot(onDemand.InstanceId ?? "")).toThrow(/not a spot instance/);
  });

  it("killInstance terminates at once; shutdownFromInstance follows the shutdown behaviour", async () => {
    await startSim();
    const a = await run(1);
    const b = await run(2, { InstanceInitiatedShutdownBehavior: "terminate" });
    const c = await run(3);
    sim.killInstance(a.InstanceId ?? "");
    sim.shutdownFromInstance(b.InstanceId ?? "");
    sim.shutdownFromInstance(c.InstanceId ?? "");
    expect(sim.instances().map((i) => i.state)).toEqual(["terminated", "shutting-down", "stopping"]);
  });
});

describe("injected faults fail matching calls, N times or until cleared", () => {
  it("fails only the matching instance type and subnet, the given number of times", async () => {
    await startSim();
    sim.injectFault({ code: "InsufficientInstanceCapacity", instanceType: "m5.large", subnetId: "subnet-a", times: 2 });
    expect(await errorCode(run(1))).toBe("InsufficientInstanceCapacity");
    expect((await run(2, { InstanceType: "c5.large" })).State?.Name).toBe("pending");
    expect(await errorCode(run(3))).toBe("InsufficientInstanceCapacity");
    expect((await run(4)).State?.Name).toBe("pending");
  });

  it("fails until cleared when no count is given", async () => {
    await startSim();
    sim.injectFault({ code: "VcpuLimitExceeded" });
    expect(await errorCode(run(1))).toBe("VcpuLimitExceeded");
    expect(await errorCode(run(2))).toBe("VcpuLimitExceeded");
    sim.clearFaults();
    expect((await run(3)).State?.Name).toBe("pending");
  });

  it("answers InstanceLimitExceeded once the instance limit is reached", async () => {
    await startSim({ instanceLimit: 2 });
    await run(1);
    await run(2);
    expect(await errorCode(run(3))).toBe("InstanceLimitExceeded");
  });
});

describe("the opt-in token bucket throttles RunInstances: burst 5, refill 2/s", () => {
  it("refuses the sixth call at once and accepts one more after 500 ms", async () => {
    await startSim({ throttle: true });
    for (let i = 1; i <= 5; i++) await run(i);
    expect(await errorCode(run(6))).toBe("RequestLimitExceeded");
    clock += 500;
    expect((await run(7)).State?.Name).toBe("pending");
    expect(await errorCode(run(8))).toBe("RequestLimitExceeded");
    expect(sim.stats()).toMatchObject({ throttled: 2, runInstancesCalls: 8, instancesLaunched: 6 });
  });
});

describe("CreateTags and unknown actions", () => {
  it("adds tags to an instance", async () => {
    await startSim();
    const a = await run(1);
    await ec2.send(
      new CreateTagsCommand({ Resources: [a.InstanceId ?? ""], Tags: [{ Key: "ArvadosIdleBehavior", Value: "hold" }] }),
    );
    expect(sim.instance(a.InstanceId ?? "")?.tags.ArvadosIdleBehavior).toBe("hold");
  });

  it("answers InvalidAction in EC2's error shape for an action it does not know", async () => {
    const url = await startSim();
    const res = await fetch(url, { method: "POST", body: "Action=RebootInstances&Version=2016-11-15" });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(
      /<Response><Errors><Error><Code>InvalidAction<\/Code><Message>.*<\/Message><\/Error><\/Errors><RequestID>/,
    );
  });
});

describe("the request log records every call without secrets", () => {
  it("keeps the action and parameters but redacts user data and secret tag values", async () => {
    await startSim();
    sim.injectFault({ code: "InsufficientInstanceCapacity", times: 1 });
    await errorCode(run(1));
    await run(2);
    const log = sim.requests();
    expect(log.map((r) => [r.action, r.error])).toEqual([
      ["RunInstances", "InsufficientInstanceCapacity"],
      ["RunInstances", undefined],
    ]);
    expect(log[1]?.params.InstanceType).toBe("m5.large");
    expect(JSON.stringify(log)).not.toContain("secret-2");
    expect(JSON.stringify(log)).not.toContain(Buffer.from("#!/bin/sh\necho 2\n").toString("base64"));
  });

  it("requestsSince(seq) returns only the calls after it, so a poller copies only what is new", async () => {
    await startSim();
    await run(1);
    const [first] = sim.requests();
    await run(2);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: ["i-none"] })).catch(() => undefined);
    expect(sim.requestsSince(first?.seq ?? -1).map((r) => r.action)).toEqual(["RunInstances", "TerminateInstances"]);
    expect(sim.requestsSince(0)).toEqual(sim.requests());
    const last = sim.requests().at(-1)?.seq ?? 0;
    expect(sim.requestsSince(last)).toEqual([]);
  });
});

describe("the /_sim JSON control API offers the same controls over HTTP", () => {
  it("injects a fault, lists instances, kills one and reports stats", async () => {
    const url = await startSim();
    const post = (path: string, body?: unknown) =>
      fetch(`${url}${path}`, { method: "POST", body: body === undefined ? undefined : JSON.stringify(body) });
    expect(await (await post("/_sim/faults", { code: "InstanceLimitExceeded", times: 1 })).json()).toEqual({ id: 1 });
    expect(await errorCode(run(1))).toBe("InstanceLimitExceeded");
    const a = await run(2);
    const listed = (await (await fetch(`${url}/_sim/instances`)).json()) as { instanceId: string }[];
    expect(listed.map((i) => i.instanceId)).toEqual([a.InstanceId]);
    const killed = (await (await post(`/_sim/instances/${a.InstanceId}/kill`)).json()) as { state: string };
    expect(killed.state).toBe("terminated");
    expect(await (await fetch(`${url}/_sim/stats`)).json()).toMatchObject({
      runInstancesCalls: 2,
      instancesLaunched: 1,
    });
    expect((await post("/_sim/instances/i-nope/kill")).status).toBe(404);
    expect((await fetch(`${url}/_sim/nothing`)).status).toBe(404);
  });
});
