import type { IdleBehavior } from "./instance.js";

/**
 * Upstream's worker states (§3.1 `worker.State`), inferred here rather than probed: the agent on
 * an instance reports nothing (lib/cloud/worker-channel.ts explains why), so a worker's state is
 * derived from EC2's instance state, the states of the containers this dispatcher assigned to it,
 * and how they were assigned (lib/scheduler/workers.ts).
 */
export const WorkerState = {
  booting: "booting",
  idle: "idle",
  running: "running",
  shutdown: "shutdown",
} as const;
export type WorkerState = (typeof WorkerState)[keyof typeof WorkerState];

/**
 * Which dispatcher version launched an instance: a `pool` worker runs the agent and takes orders
 * through the channel; a `perContainer` instance runs the one-shot boot script of the one
 * container it was launched for, and is managed to its end but never given another container.
 */
export type WorkerKind = "pool" | "perContainer";

/**
 * Resources still free on a worker while packing containers onto it (§2.6, upstream
 * InstanceResources with `sharedVCPUUsed`). Bytes for sizes. Structurally the same as
 * lib/instance-types' RemainingResources, so Accommodates/Sub apply to it unchanged.
 */
export interface WorkerResources {
  VCPUs: number;
  RAM: number;
  Scratch: number;
  GPUs: number;
  GPUVRAM: number;
  sharedVCPUUsed: boolean;
}

/**
 * A WorkerView is one instance of our instance set seen as upstream's scheduler sees a worker
 * (§3.3 "Preparation"): its state and IdleBehavior, the non-final containers assigned to it, and
 * the configured type's resources minus what those containers need. Derived fresh by every pass
 * from plain data (a listing, the entries, the clock); never stored.
 */
export interface WorkerView {
  instanceId: string;
  /** The configured instance type Name (the InstanceType tag). */
  instanceType: string;
  /** The configured type's Price, for upstream's instanceSort; 0 when the type left the config. */
  price: number;
  kind: WorkerKind;
  state: WorkerState;
  idleBehavior: IdleBehavior;
  /** ISO time EC2 launched the instance. */
  launchTime: string;
  /** Uuids of the non-final containers assigned to it (upstream RunningContainerUUIDs plus reservations). */
  containers: string[];
  /** How many of `containers` crunch-run has started (Arvados state Running). */
  runningCount: number;
  /** The configured type minus InstanceResourcesNeeded of `containers` (§3.3); all zero when unknown. */
  remaining: WorkerResources;
  /**
   * ISO time the worker was last known busy: when its last container was assigned, or, for an
   * idle worker, when cleanup first saw it idle (the `#worker` item); the launch time at least.
   * TimeoutIdle counts from here.
   */
  lastBusyAt: string;
  /**
   * When cleanup first saw this worker idle, if known (the `#worker` item, when kept). Only a known
   * idle-since keeps the scheduler off a worker about to power off: without it, the idle time is
   * unknown, and an order that reaches a worker just as its agent powers off is repaired by
   * cleanup (the container is requeued as for any worker that dies).
   */
  idleSince?: string;
  /**
   * How many more order tags the worker can take (EC2's tags per instance, less those it holds);
   * undefined when unknown. The plan gives it no more containers by tag than this.
   */
  orderTagRoom?: number;
}

/** The pool's own settings (§6.2), in milliseconds where they are durations. */
export interface PoolSettings {
  /** `CloudVMs.MaxRunningContainersPerInstance`: 0 = unlimited. */
  maxRunningContainersPerInstance: number;
  /** `CloudVMs.TimeoutIdle`: the agent powers an idle worker off after this. */
  timeoutIdleMs: number;
  /**
   * An idle worker this close to TimeoutIdle is not given a container: its agent may power off
   * before it reads the order (lib/cloud/worker-channel.ts). A few agent polls.
   */
  assignMarginMs: number;
  /**
   * Containers per batched RunInstances at most: what the agent's user data leaves room for
   * (EC2's 16 KB), and never past EC2's instance bucket (1,000). Undefined: 1,000.
   */
  maxBatchSize?: number;
}

/**
 * When cleanup first saw each pool worker idle (ISO time), by instance id: the dispatcher's
 * TimeoutIdle backstop and the launch pass's "about to power off" margin read the same records.
 */
export type IdleSinceRecords = Readonly<Record<string, string>>;

/**
 * One cleanup pass's changes to the idle-since records. Each change names the value it read, so
 * two overlapping passes never undo each other's newer sighting (a write whose record changed
 * meanwhile is dropped; the next pass decides again).
 */
export interface IdleSinceChanges {
  /** Workers seen idle: record `at`, over `replaces` (the stale value read) or over no record. */
  set: { instanceId: string; at: string; replaces?: string }[];
  /** Records of workers busy or gone: removed if they still hold `value`. */
  remove: { instanceId: string; value: string }[];
}

/** The idle-since records as the launch and cleanup passes use them (lib/store/worker-idle.ts). */
export interface WorkerIdleTable {
  /** Every record, in one strongly consistent read. */
  idleSince(): Promise<IdleSinceRecords>;
  /** Applies `changes`; false when some record changed since it was read (those changes were dropped). */
  updateIdleSince(changes: IdleSinceChanges): Promise<boolean>;
}
