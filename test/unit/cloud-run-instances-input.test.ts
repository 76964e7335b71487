import { describe, expect, it } from "vitest";
import { buildRunInstancesInput, type RunInstancesArgs } from "../../lib/cloud/run-instances-input.js";
import { clientToken, maxClientTokenLength } from "../../lib/cloud/client-token.js";
import { formatGoFloat } from "../../lib/cloud/go-float.js";
import { instanceTags, volumeTags } from "../../lib/cloud/tags.js";
import { InvalidContainerUuidError } from "../../lib/model/container-uuid.js";
import type { Ec2DriverParameters } from "../../lib/config/types.js";
import type { InstanceType } from "../../lib/model/instance-type.js";
import { ec2Driver, instanceType, runInstancesArgs } from "../support/fixtures.js";

const GiB = 2 ** 30;

/** The i-th type on an m5 size, so the provider type reads like EC2's. */
const m5 = (i: number, over: Partial<InstanceType> = {}) => instanceType(i, { ProviderType: `m5.${i}xlarge`, ...over });

function driver(over: Partial<Ec2DriverParameters> = {}): Ec2DriverParameters {
  return ec2Driver({ SecurityGroupIDs: ["sg-1", "sg-2"], ...over });
}

function args(over: Partial<RunInstancesArgs> = {}): RunInstancesArgs {
  return runInstancesArgs({
    instanceType: m5(1),
    config: { ImageID: "ami-0123", TagKeyPrefix: "Arvados", ResourceTags: {}, DriverParameters: driver() },
    userData: "#!/bin/sh\necho hi\n",
    ...over,
  });
}

const tagsOf = (input: ReturnType<typeof buildRunInstancesInput>, resourceType: string) =>
  input.TagSpecifications?.find((s) => s.ResourceType === resourceType)?.Tags ?? [];

describe("RunInstances launches exactly one instance of the provider type from the image (§4.3)", () => {
  it("sets ImageId, InstanceType = ProviderType and MinCount = MaxCount = 1", () => {
    const input = buildRunInstancesInput(args({ instanceType: m5(2, { Name: "big" }) }));
    expect(input).toMatchObject({ ImageId: "ami-0123", InstanceType: "m5.2xlarge", MinCount: 1, MaxCount: 1 });
  });

  it("terminates on shutdown and leaves API termination enabled", () => {
    const input = buildRunInstancesInput(args());
    expect(input.InstanceInitiatedShutdownBehavior).toBe("terminate");
    expect(input.DisableApiTermination).toBe(false);
  });
});

describe("the network interface has no public IP, the security groups and the subnet only if given (§4.3)", () => {
  it("builds one interface without a public address and with the configured groups", () => {
    expect(buildRunInstancesInput(args()).NetworkInterfaces).toEqual([
      { AssociatePublicIpAddress: false, DeleteOnTermination: true, DeviceIndex: 0, Groups: ["sg-1", "sg-2"] },
    ]);
  });

  it("adds SubnetId only when a subnet is given", () => {
    expect(buildRunInstancesInput(args({ subnetId: "subnet-9" })).NetworkInterfaces?.[0]?.SubnetId).toBe("subnet-9");
    expect(buildRunInstancesInput(args()).NetworkInterfaces?.[0]).not.toHaveProperty("SubnetId");
  });

  it("omits Groups when no security group is configured, so EC2 uses the default group", () => {
    const config = { ...args().config, DriverParameters: driver({ SecurityGroupIDs: [] }) };
    expect(buildRunInstancesInput(args({ config })).NetworkInterfaces?.[0]).not.toHaveProperty("Groups");
  });
});

describe("instance tags are ResourceTags first, then the pool's tags, which win on collision (§4.1)", () => {
  it("tags the instance with the prefixed set id, type name, idle behaviour, secret and container uuid", () => {
    const input = buildRunInstancesInput(
      args({
        config: {
          ...args().config,
          TagKeyPrefix: "Arv",
          ResourceTags: { team: "genomics", ArvIdleBehavior: "hold" },
        },
      }),
    );
    expect(tagsOf(input, "instance")).toEqual([
      { Key: "team", Value: "genomics" },
      { Key: "ArvIdleBehavior", Value: "run" },
      { Key: "ArvInstanceSetID", Value: "zzzzz-gj3su-000000000000000" },
      { Key: "ArvInstanceType", Value: "type1" },
      { Key: "ArvInstanceSecret", Value: "0123456789abcdef" },
      { Key: "ArvContainerUUID", Value: "zzzzz-dz642-000000000000001" },
    ]);
  });

  it("tags the volumes so they can be found, but never with the instance secret", () => {
    const volume = tagsOf(buildRunInstancesInput(args()), "volume");
    expect(volume).toContainEqual({ Key: "ArvadosInstanceSetID", Value: "zzzzz-gj3su-000000000000000" });
    expect(volume.map((t) => t.Key)).not.toContain("ArvadosInstanceSecret");
  });
});

describe("the instance metadata service requires IMDSv2 tokens and answers the instance alone (§4.3)", () => {
  it("enables the endpoint with HttpTokens required", () => {
    expect(buildRunInstancesInput(args()).MetadataOptions).toMatchObject({
      HttpEndpoint: "enabled",
      HttpTokens: "required",
    });
  });

  it("sets the PUT response hop limit to 1, so a token request from a container one hop further gets no reply", () => {
    expect(buildRunInstancesInput(args()).MetadataOptions).toEqual({
      HttpEndpoint: "enabled",
      HttpTokens: "required",
      HttpPutResponseHopLimit: 1,
    });
  });
});

describe("user data is sent base64-encoded (§4.3)", () => {
  it("encodes the script given, byte for byte", () => {
    const input = buildRunInstancesInput(args({ userData: "#!/bin/sh\necho 'héllo'\n" }));
    expect(Buffer.from(input.UserData ?? "", "base64").toString("utf8")).toBe("#!/bin/sh\necho 'héllo'\n");
  });
});

describe("AddedScratch adds an EBS volume /dev/xvdt of ceil(AddedScratch / GiB) GiB (§4.3)", () => {
  it("rounds a partial GiB up", () => {
    const input = buildRunInstancesInput(args({ instanceType: m5(1, { AddedScratch: 50 * GiB + 1 }) }));
    expect(input.BlockDeviceMappings).toEqual([
      { DeviceName: "/dev/xvdt", Ebs: { DeleteOnTermination: true, VolumeSize: 51, VolumeType: "gp3" } },
    ]);
  });

  it("uses exactly AddedScratch / GiB when it is whole", () => {
    const input = buildRunInstancesInput(args({ instanceType: m5(1, { AddedScratch: 50 * GiB }) }));
    expect(input.BlockDeviceMappings?.[0]?.Ebs?.VolumeSize).toBe(50);
  });

  it("adds no volume without AddedScratch", () => {
    expect(buildRunInstancesInput(args())).not.toHaveProperty("BlockDeviceMappings");
  });
});

describe("a preemptible type launches as spot with MaxPrice = Price formatted like Go's %v (§4.3)", () => {
  it("asks for a spot instance that terminates on interruption", () => {
    const input = buildRunInstancesInput(args({ instanceType: m5(1, { Preemptible: true, Price: 0.0416 }) }));
    expect(input.InstanceMarketOptions).toEqual({
      MarketType: "spot",
      SpotOptions: { InstanceInterruptionBehavior: "terminate", MaxPrice: "0.0416" },
    });
  });

  it("sends no market options for an on-demand type", () => {
    expect(buildRunInstancesInput(args())).not.toHaveProperty("InstanceMarketOptions");
  });

  it.each([
    [0.1, "0.1"],
    [2, "2"],
    [1.5, "1.5"],
    [123456, "123456"],
    [1234567, "1.234567e+06"],
    [1e6, "1e+06"],
    [0.0001, "0.0001"],
    [0.00001, "1e-05"],
    [0.30000000000000004, "0.30000000000000004"],
    [1e21, "1e+21"],
  ])("formats %d as %s", (x, go) => {
    expect(formatGoFloat(x)).toBe(go);
  });
});

describe("IAMInstanceProfile sets the instance profile by name (§4.3)", () => {
  it("sets IamInstanceProfile.Name when configured", () => {
    const config = { ...args().config, DriverParameters: driver({ IAMInstanceProfile: "arvados-compute" }) };
    expect(buildRunInstancesInput(args({ config })).IamInstanceProfile).toEqual({ Name: "arvados-compute" });
  });

  it("sets none when not configured", () => {
    expect(buildRunInstancesInput(args())).not.toHaveProperty("IamInstanceProfile");
  });
});

describe("the ClientToken identifies one request of one launch attempt", () => {
  it("is the same for a retry of the same container, lock_count, type and subnet", () => {
    const a = buildRunInstancesInput(args({ subnetId: "subnet-1" })).ClientToken;
    const b = buildRunInstancesInput(args({ subnetId: "subnet-1" })).ClientToken;
    expect(a).toBe(b);
    expect(a).toMatch(/^zzzzz-dz642-000000000000001-1-[0-9a-f]{16}$/);
  });

  it("differs for another lock_count, type or subnet, so EC2 never sees one token with two parameter sets", () => {
    const base = clientToken({ containerUuid: "zzzzz-dz642-000000000000001", attempt: 1, instanceTypeName: "a" });
    const others = [
      clientToken({ containerUuid: "zzzzz-dz642-000000000000001", attempt: 2, instanceTypeName: "a" }),
      clientToken({ containerUuid: "zzzzz-dz642-000000000000001", attempt: 1, instanceTypeName: "b" }),
      clientToken({ containerUuid: "zzzzz-dz642-000000000000001", attempt: 1, instanceTypeName: "a", subnetId: "s" }),
      clientToken({ containerUuid: "zzzzz-dz642-000000000000002", attempt: 1, instanceTypeName: "a" }),
    ];
    expect(new Set([base, ...others]).size).toBe(5);
  });

  it("is at most 64 printable ASCII characters, even for long or non-ASCII inputs", () => {
    for (const [attempt, instanceTypeName] of [
      [123456, "t".repeat(80)],
      [Number.MAX_SAFE_INTEGER, "ünïcode"],
      [1, "a b\tc"],
    ] as const) {
      const token = clientToken({
        containerUuid: "zzzzz-dz642-000000000000001",
        attempt,
        instanceTypeName,
        subnetId: "s",
      });
      expect(token.length).toBeLessThanOrEqual(maxClientTokenLength);
      expect(token).toMatch(/^[\x21-\x7e]+$/);
    }
  });
});

describe("the container uuid is checked before it becomes a ClientToken or a tag", () => {
  const bad = [
    "x".repeat(100),
    "zzzzz-dz642-ünïcode00000001",
    "zzzzz-j7d0g-000000000000001",
    "",
    " zzzzz-dz642-000000000000001",
  ];

  it.each(bad)("clientToken refuses %j with InvalidContainerUuidError", (containerUuid) => {
    expect(() => clientToken({ containerUuid, attempt: 1, instanceTypeName: "a" })).toThrow(
      expect.objectContaining({ name: "InvalidContainerUuidError", use: "RunInstances ClientToken" }),
    );
  });

  it.each(bad)("the RunInstances input for %j is refused before any tag is built", (containerUuid) => {
    expect(() => buildRunInstancesInput(args({ containerUuid }))).toThrow(InvalidContainerUuidError);
  });

  it.each(bad)("instance and volume tags refuse %j", (containerUuid) => {
    const values = {
      tagKeyPrefix: "Arvados",
      resourceTags: {},
      instanceSetId: "s",
      instanceTypeName: "t",
      instanceSecret: "x",
      containerUuid,
    };
    expect(() => instanceTags(values)).toThrow(
      expect.objectContaining({ name: "InvalidContainerUuidError", use: "EC2 instance tag" }),
    );
    expect(() => volumeTags(values)).toThrow(
      expect.objectContaining({ name: "InvalidContainerUuidError", use: "EC2 volume tag" }),
    );
  });
});
