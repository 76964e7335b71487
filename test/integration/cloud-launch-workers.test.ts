import type { EC2Client } from "@aws-sdk/client-ec2";
import { afterEach, describe, expect, it } from "vitest";
import { listInstances } from "../../lib/cloud/instances.js";
import {
  buildWorkerRunInstancesInput,
  launchWorkers,
  workerClientToken,
} from "../../lib/cloud/worker-run-instances.js";
import { type BatchMember, batchKey, parseBatchKey } from "../../lib/model/worker-batch.js";
import type { InstanceType } from "../../lib/model/instance-type.js";
import { Ec2Simulator } from "../../local/ec2-sim/simulator.js";
import { localEc2Client } from "../support/ec2.js";
import { containerUuid, ec2Driver, instanceType, runInstancesArgs } from "../support/fixtures.js";

const instanceSetId = "zzzzz-gj3su-000000000000000";
const m5 = (i: number, over: Partial<InstanceType> = {}) => instanceType(i, { ProviderType: `m5.${i}xlarge`, ...over });
const member = (i: number, attempt = 1): BatchMember => ({ containerUuid: containerUuid(i), attempt });
/** One container per launch index. */
const batch = (...is: number[]): BatchMember[][] => is.map((i) => [member(i)]);

function args(members: BatchMember[][], subnets: string[] = []) {
  const {
    containerUuid: _c,
    attempt: _a,
    ...rest
  } = runInstancesArgs({
    instanceType: m5(1),
    config: {
      ImageID: "ami-0123",
      TagKeyPrefix: "Arvados",
      ResourceTags: {},
      DriverParameters: ec2Driver({ SubnetID: subnets, InstanceTypeQuotaGroups: { m: "standard" } }),
    },
    instanceSetId,
    instanceSecret: "workersecret",
  });
  return { ...rest, batch: members };
}

const fresh = { subnetIndex: 0, throttleDelayMs: 0 };
let sim: Ec2Simulator | undefined;
let ec2: EC2Client | undefined;

async function start(options: ConstructorParameters<typeof Ec2Simulator>[0] = {}): Promise<EC2Client> {
  sim = new Ec2Simulator(options);
  ec2 = localEc2Client(await sim.start());
  return ec2;
}

afterEach(async () => {
  ec2?.destroy();
  await sim?.stop();
});

describe("the RunInstances input of a batch", () => {
  it("asks for 1 to k instances, tags them as pool workers without a ContainerUUID, and serves tags in IMDS", () => {
    const input = buildWorkerRunInstancesInput({ ...args(batch(1, 2, 3)), subnetId: "subnet-a" });
    expect(input.MinCount).toBe(1);
    expect(input.MaxCount).toBe(3);
    expect(input.MetadataOptions).toEqual({
      HttpEndpoint: "enabled",
      HttpTokens: "required",
      HttpPutResponseHopLimit: 1,
      InstanceMetadataTags: "enabled",
    });
    const tags = input.TagSpecifications?.[0]?.Tags ?? [];
    expect(tags).toContainEqual({ Key: "ArvadosWorker", Value: "pool" });
    expect(tags.map((t) => t.Key)).not.toContain("ArvadosContainerUUID");
  });

  it("derives one ClientToken per (batch, type, subnet), at most 64 characters", () => {
    const token = workerClientToken(batch(1, 2), "type1", "subnet-a");
    expect(token).toHaveLength(64);
    expect(workerClientToken(batch(1, 2), "type1", "subnet-a")).toBe(token);
    expect(workerClientToken(batch(2, 1), "type1", "subnet-a")).not.toBe(token);
    expect(workerClientToken(batch(1, 2), "type1", "subnet-b")).not.toBe(token);
    expect(workerClientToken([[member(1, 2)], ...batch(2)], "type1")).not.toBe(workerClientToken(batch(1, 2), "type1"));
    // Packed onto one instance is another call than one instance each.
    expect(workerClientToken([[member(1), member(2)]], "type1")).not.toBe(workerClientToken(batch(1, 2), "type1"));
  });

  it("keeps the batch in an intent as uuid:attempt per launch index, packed ones joined by +, and reads it back", () => {
    expect(batchKey(batch(1, 2))).toEqual([`${containerUuid(1)}:1`, `${containerUuid(2)}:1`]);
    const packed = [[member(1), member(2, 3)], [member(4)]];
    expect(batchKey(packed)).toEqual([`${containerUuid(1)}:1+${containerUuid(2)}:3`, `${containerUuid(4)}:1`]);
    expect(parseBatchKey(batchKey(packed))).toEqual(packed);
  });

  it("refuses an empty batch or an empty launch index", () => {
    expect(() => buildWorkerRunInstancesInput(args([]))).toThrow(/empty batch/);
    expect(() => buildWorkerRunInstancesInput(args([[member(1)], []]))).toThrow(/empty batch/);
  });
});

describe("one call starts the workers of a batch (EC2 simulator)", () => {
  it("starts k instances in one RunInstances, mapped to the batch by AmiLaunchIndex, listed as workers", async () => {
    const client = await start();
    const result = await launchWorkers(client, args(batch(1, 2, 3)), fresh);
    expect(sim?.runInstancesCalls()).toBe(1);
    expect(result.instances.map((i) => i.launchIndex).sort()).toEqual([0, 1, 2]);
    const listed = await listInstances(client, { tagKeyPrefix: "Arvados", instanceSetId });
    expect(listed).toHaveLength(3);
    expect(listed.every((i) => i.worker && i.containerUuid === undefined)).toBe(true);
  });

  it("asks for one instance per launch index, however many containers are packed onto each", async () => {
    const client = await start();
    const result = await launchWorkers(client, args([[member(1), member(2)], [member(3)]]), fresh);
    expect(result.instances.map((i) => i.launchIndex).sort()).toEqual([0, 1]);
    expect(sim?.instances()).toHaveLength(2);
  });

  it("a repeat of the same call starts nothing more and returns the same instances", async () => {
    const client = await start();
    const first = await launchWorkers(client, args(batch(1, 2)), fresh);
    const again = await launchWorkers(client, args(batch(1, 2)), fresh, {
      repeat: { subnetId: first.subnetId, clientToken: first.clientToken },
    });
    expect(again.instances).toEqual(first.instances);
    expect(sim?.instances()).toHaveLength(2);
  });

  it("a partial answer starts fewer than k: the rest of the batch has no instance", async () => {
    const client = await start({ instanceLimit: 2 });
    const result = await launchWorkers(client, args(batch(1, 2, 3)), fresh);
    expect(result.instances.map((i) => i.launchIndex).sort()).toEqual([0, 1]);
  });

  it("the intent hook runs before the call, with the call's token", async () => {
    const client = await start();
    const seen: string[] = [];
    const result = await launchWorkers(client, args(batch(1)), fresh, {
      beforeCall: async (call) => {
        seen.push(call.clientToken);
        expect(sim?.runInstancesCalls()).toBe(0);
      },
    });
    expect(seen).toEqual([result.clientToken]);
  });
});
