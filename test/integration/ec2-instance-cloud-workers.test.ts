import { afterEach, describe, expect, it } from "vitest";
import { Ec2InstanceCloud } from "../../lib/cloud/ec2-instance-cloud.js";
import { Ec2Simulator } from "../../local/ec2-sim/simulator.js";
import { testClusterConfig } from "../support/cluster-config.js";
import { localEc2Client } from "../support/ec2.js";
import { containerUuid } from "../support/fixtures.js";

/*
 * The worker launch of the cloud port, against the EC2 simulator: what the agent is told comes
 * from the same config the scheduler plans with.
 */

let sim: Ec2Simulator | undefined;
afterEach(async () => {
  await sim?.stop();
});

async function launchedUserData(cloudVMsExtra: string): Promise<string> {
  sim = new Ec2Simulator();
  const config = testClusterConfig(cloudVMsExtra);
  const instanceType = Object.values(config.InstanceTypes)[0];
  if (instanceType === undefined) throw new Error("the test config has no instance type");
  const cloud = new Ec2InstanceCloud({
    ec2: localEc2Client(await sim.start()),
    config,
    instanceSetId: "zzzzz-gj3su-000000000000000",
    tokenParameterName: "/arvados/test/token",
    region: "us-east-1",
    apiHost: "127.0.0.1:1",
  });
  const { instances } = await cloud.launchWorkers({
    batch: [[{ containerUuid: containerUuid(1), attempt: 1 }]],
    instanceType,
    subnetIndex: 0,
    throttleDelayMs: 0,
  });
  const id = instances[0]?.instanceId ?? "";
  return sim.instance(id)?.userData ?? "";
}

describe("a worker's agent powers off after the config's TimeoutIdle", () => {
  it("puts CloudVMs.TimeoutIdle, in seconds, in the agent's settings", async () => {
    expect(await launchedUserData("TimeoutIdle: 25s")).toMatch(/^timeout_idle=25$/m);
  });

  it("puts upstream's default (1m) when the config leaves TimeoutIdle out", async () => {
    expect(await launchedUserData("")).toMatch(/^timeout_idle=60$/m);
  });
});
