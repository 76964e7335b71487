/** EC2 instance states (DescribeInstances `State.Name`). */
export type InstanceState = "pending" | "running" | "shutting-down" | "terminated" | "stopping" | "stopped";

/**
 * What an instance does when it has nothing (more) to run (upstream worker.IdleBehavior), kept in
 * its `<TagKeyPrefix>IdleBehavior` tag and set by an operator through the dispatch API. With one
 * container per instance: `run` is the default; `hold` keeps the instance from every automatic
 * termination (and its container's lock from the TimeoutBooting requeue) until an operator acts;
 * `drain` ends it as soon as it is idle: one still booting is terminated and its container
 * requeued, one running its container powers off when that ends, as always.
 */
export const IdleBehavior = { run: "run", hold: "hold", drain: "drain" } as const;
export type IdleBehavior = (typeof IdleBehavior)[keyof typeof IdleBehavior];

export function isIdleBehavior(value: unknown): value is IdleBehavior {
  return value === IdleBehavior.run || value === IdleBehavior.hold || value === IdleBehavior.drain;
}

/**
 * An InstanceView is what the scheduler needs to know about one instance of our instance set:
 * structural, so lib/cloud's listing can be passed as is. `containerUuid` comes from the
 * container tag; `instanceType` is the configured type Name (the InstanceType tag).
 */
export interface InstanceView {
  instanceId: string;
  instanceType: string;
  state: InstanceState;
  /** ISO time EC2 launched the instance. */
  launchTime: string;
  containerUuid?: string;
  /** The subnet it was launched into, when the listing says (§4.3 ec2_instances{subnet_id}). */
  subnetId?: string;
  /** ISO time the instance terminated, when the listing tells (StateTransitionReason); else unknown. */
  terminatedAt?: string;
  /** From the IdleBehavior tag; absent or unrecognised means `run` (upstream's default). */
  idleBehavior?: IdleBehavior;
  /** The EC2 instance type, as EC2 reports it. */
  providerType?: string;
  /**
   * True when the `<TagKeyPrefix>Worker` tag marks a pool worker this dispatcher launched (its
   * containers are in its user data and order tags, not in a ContainerUUID tag).
   */
  worker?: boolean;
  /** The private IP address (upstream's InstanceView.address), once EC2 assigned one. */
  address?: string;
  /** Pool workers: the orders its `<TagKeyPrefix>Container:<uuid>` tags hold, as listed (lib/cloud/worker-channel.ts). */
  orders?: readonly ListedOrder[];
  /** Pool workers: how many more tags EC2's limit per instance leaves room for (each new order takes one). */
  orderTagRoom?: number;
}

/** One order tag on a worker, as the listing read it: `<action>:<attempt>` for the container. */
export interface ListedOrder {
  containerUuid: string;
  action: "run" | "kill";
  attempt: number;
}

/**
 * How long after RunInstances an instance may still be missing from DescribeInstances (EC2's
 * listing is eventually consistent). An unlisted instance is only taken as gone once its
 * launch is older than this.
 */
export const UNLISTED_GRACE_MS = 60_000;
