/** The simulator's data: instances as EC2 keeps them, and the error it answers with. */

/** EC2 instance state names with their codes (the `<instanceState><code>`). */
export const instanceStateCodes = {
  pending: 0,
  running: 16,
  "shutting-down": 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
} as const;

export type InstanceStateName = keyof typeof instanceStateCodes;

/** One block device of a launch request. */
export interface SimBlockDevice {
  deviceName: string;
  volumeSize?: number;
  volumeType?: string;
  deleteOnTermination: boolean;
}

/**
 * One simulated instance: what RunInstances asked for, plus its lifecycle. Plain data, so
 * controls can hand out copies and the JSON control API can serve it as is.
 */
export interface SimInstance {
  instanceId: string;
  reservationId: string;
  /** Launch order, for stable listing and paging. */
  seq: number;
  imageId: string;
  instanceType: string;
  state: InstanceStateName;
  stateReason?: { code: string; message: string };
  /** Sim-clock ms. */
  launchTime: number;
  /** Sim-clock ms of the last state change. */
  stateChangedAt: number;
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
  privateIp: string;
  publicIp?: string;
  associatePublicIpAddress?: boolean;
  securityGroups: string[];
  tags: Record<string, string>;
  volumeTags: Record<string, string>;
  clientToken?: string;
  /** The decoded user data text. */
  userData?: string;
  market: "on-demand" | "spot";
  spotMaxPrice?: string;
  spotInterruptionBehavior?: string;
  blockDevices: SimBlockDevice[];
  /** `instanceMetadataTags` "enabled" serves the instance's tags in IMDS (and restricts its tag keys). */
  metadataOptions: { httpEndpoint: string; httpTokens: string; instanceMetadataTags?: string };
  /** Its place among the instances of its RunInstances call (IMDS `ami-launch-index`). */
  amiLaunchIndex?: number;
  iamInstanceProfile?: string;
  keyName?: string;
  shutdownBehavior: string;
  disableApiTermination: boolean;
}

/** An EC2 error reply: `code` is the EC2 `<Code>`, `status` the HTTP status EC2 uses for it. */
export class Ec2SimError extends Error {
  override readonly name = "Ec2SimError";
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}
