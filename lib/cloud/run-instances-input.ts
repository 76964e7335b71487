import type { BlockDeviceMapping, RunInstancesCommandInput } from "@aws-sdk/client-ec2";
import type { CloudVMsConfig } from "../config/types.js";
import type { InstanceType } from "../model/instance-type.js";
import { clientToken } from "./client-token.js";
import { formatGoFloat } from "./go-float.js";
import { instanceTags, volumeTags } from "./tags.js";

/** The CloudVMs settings a launch reads. */
export type LaunchConfig = Pick<CloudVMsConfig, "ImageID" | "TagKeyPrefix" | "ResourceTags" | "DriverParameters">;

/** Everything one RunInstances request is made of. */
export interface RunInstancesArgs {
  instanceType: InstanceType;
  config: LaunchConfig;
  instanceSetId: string;
  containerUuid: string;
  /** The container's lock_count for this launch; part of the ClientToken. */
  attempt: number;
  /** The subnet of this try; absent when no subnet is configured. */
  subnetId?: string;
  /** The boot script (see `buildUserData`), plain text; sent base64-encoded. */
  userData: string;
  /** §4.1 instance secret: tagged and written by the boot script. Must be the same on a retry. */
  instanceSecret: string;
  /**
   * The ClientToken of an earlier call this one repeats (a launch intent's): sent as is rather
   * than derived, so the repeat carries the token the table recorded whatever else changed.
   */
  clientToken?: string;
}

const GiB = 2 ** 30;

/**
 * The complete RunInstances input for one launch try (§4.3 Create), built without any I/O:
 * one instance of `ProviderType`, no public IP, terminate on shutdown, IMDSv2 required with a
 * hop limit of 1 (so a container behind a bridge network cannot reach the instance role), tagged
 * (§4.1), with the added-scratch volume, spot options and instance profile the config asks for,
 * and a ClientToken that makes a retry of the same try idempotent (see `clientToken`).
 * No KeyName: this dispatcher never logs in to its instances.
 */
export function buildRunInstancesInput(args: RunInstancesArgs): RunInstancesCommandInput {
  const { instanceType: it, config } = args;
  const driver = config.DriverParameters;
  const tagValues = {
    tagKeyPrefix: config.TagKeyPrefix,
    resourceTags: config.ResourceTags,
    instanceSetId: args.instanceSetId,
    instanceTypeName: it.Name,
    instanceSecret: args.instanceSecret,
    containerUuid: args.containerUuid,
  };
  const input: RunInstancesCommandInput = {
    ImageId: config.ImageID,
    InstanceType: it.ProviderType as RunInstancesCommandInput["InstanceType"],
    MinCount: 1,
    MaxCount: 1,
    ClientToken:
      args.clientToken ??
      clientToken({
        containerUuid: args.containerUuid,
        attempt: args.attempt,
        instanceTypeName: it.Name,
        subnetId: args.subnetId,
      }),
    NetworkInterfaces: [
      {
        AssociatePublicIpAddress: false,
        DeleteOnTermination: true,
        DeviceIndex: 0,
        ...(driver.SecurityGroupIDs.length > 0 ? { Groups: [...driver.SecurityGroupIDs] } : {}),
        ...(args.subnetId !== undefined ? { SubnetId: args.subnetId } : {}),
      },
    ],
    DisableApiTermination: false,
    InstanceInitiatedShutdownBehavior: "terminate",
    TagSpecifications: [
      { ResourceType: "instance", Tags: instanceTags(tagValues) },
      { ResourceType: "volume", Tags: volumeTags(tagValues) },
    ],
    // The functions' IAM policy denies RunInstances without exactly these two (serverless.yml).
    MetadataOptions: { HttpEndpoint: "enabled", HttpTokens: "required", HttpPutResponseHopLimit: 1 },
    UserData: Buffer.from(args.userData, "utf8").toString("base64"),
  };
  if (it.AddedScratch > 0) input.BlockDeviceMappings = [addedScratchVolume(it.AddedScratch, driver.EBSVolumeType)];
  if (it.Preemptible) {
    input.InstanceMarketOptions = {
      MarketType: "spot",
      // §4.3: MaxPrice is fmt "%v" of the configured Price.
      SpotOptions: { InstanceInterruptionBehavior: "terminate", MaxPrice: formatGoFloat(it.Price) },
    };
  }
  if (driver.IAMInstanceProfile !== "") input.IamInstanceProfile = { Name: driver.IAMInstanceProfile };
  return input;
}

/** §4.3: the extra EBS volume /dev/xvdt of ceil(AddedScratch / GiB) GiB. */
function addedScratchVolume(addedScratch: number, volumeType: string): BlockDeviceMapping {
  return {
    DeviceName: "/dev/xvdt",
    Ebs: {
      DeleteOnTermination: true,
      VolumeSize: Math.ceil(addedScratch / GiB),
      VolumeType: volumeType as NonNullable<BlockDeviceMapping["Ebs"]>["VolumeType"],
    },
  };
}
