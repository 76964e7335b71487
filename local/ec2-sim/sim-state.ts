import { FaultInjector, TokenBucket, type TokenBucketSettings } from "./faults.js";
import { InstanceLifecycle, type LifecycleSettings } from "./lifecycle.js";
import { ClientTokens } from "./run-instances.js";
import { RequestLog } from "./request-log.js";

/** Options of an Ec2Simulator. Every one has a deterministic default. */
export interface Ec2SimulatorOptions extends Partial<LifecycleSettings> {
  /** The base clock in ms (default Date.now); `advance()` adds to it. */
  now?: () => number;
  /** Opt-in RunInstances throttle: `true` for burst 5, refill 2/s, or explicit settings. */
  throttle?: boolean | TokenBucketSettings;
  /** InstanceLimitExceeded once this many instances are pending or running. */
  instanceLimit?: number;
  /**
   * How far DescribeInstances lags behind (EC2 lists eventually): an instance is listed this
   * long after its launch, and each state change shows this long after it happened. Default 0
   * (listed at once); settable later with `Ec2Simulator.setListingLag`.
   */
  listingLagMs?: number;
  region?: string;
  ownerId?: string;
  /** The subnet of a launch that names none (EC2's default subnet). */
  defaultSubnetId?: string;
  vpcId?: string;
}

/** Counters a test or benchmark reads. */
export interface SimStats {
  /** Every RunInstances call received, whatever its outcome. */
  runInstancesCalls: number;
  /** Instances actually created (idempotent repeats do not count). */
  instancesLaunched: number;
  /** Calls refused by the token bucket. */
  throttled: number;
  /** Calls per Action. */
  calls: Record<string, number>;
}

/** SimState is everything the simulated EC2 account holds; the actions and controls work on it. */
export class SimState {
  readonly lifecycle: InstanceLifecycle;
  readonly tokens = new ClientTokens();
  readonly faults = new FaultInjector();
  readonly log = new RequestLog();
  readonly bucket: TokenBucket | undefined;
  readonly region: string;
  readonly ownerId: string;
  readonly defaultSubnetId: string;
  readonly vpcId: string;
  readonly instanceLimit: number | undefined;
  /** See Ec2SimulatorOptions.listingLagMs. */
  listingLagMs: number;
  stats: SimStats = { runInstancesCalls: 0, instancesLaunched: 0, throttled: 0, calls: {} };
  private offsetMs = 0;
  private seq = 0;
  private requestSeq = 0;
  private readonly zones = new Map<string, string>();

  constructor(private readonly options: Ec2SimulatorOptions = {}) {
    const clock = () => this.now();
    this.lifecycle = new InstanceLifecycle(
      {
        pendingMs: options.pendingMs,
        shuttingDownMs: options.shuttingDownMs,
        terminatedRetentionMs: options.terminatedRetentionMs ?? 60 * 60_000,
      },
      clock,
    );
    const throttle = options.throttle === true ? { burst: 5, refillPerSecond: 2 } : options.throttle || undefined;
    this.bucket = throttle ? new TokenBucket(throttle, clock) : undefined;
    this.region = options.region ?? "us-east-1";
    this.ownerId = options.ownerId ?? "000000000000";
    this.defaultSubnetId = options.defaultSubnetId ?? "subnet-0000000000default";
    this.vpcId = options.vpcId ?? "vpc-00000000000000sim";
    this.instanceLimit = options.instanceLimit;
    this.listingLagMs = options.listingLagMs ?? 0;
  }

  /** The sim clock: the base clock plus everything `advance()` added. */
  now(): number {
    return (this.options.now?.() ?? Date.now()) + this.offsetMs;
  }

  advance(ms: number): void {
    this.offsetMs += ms;
  }

  /** The next launch sequence number (instance and reservation ids derive from it). */
  nextSeq(): number {
    return ++this.seq;
  }

  nextRequestId(): string {
    return `00000000-0000-4000-8000-${(++this.requestSeq).toString(16).padStart(12, "0")}`;
  }

  /** A stable availability zone per subnet: the first subnet seen gets "a", the next "b", ... */
  zoneOf(subnetId: string): string {
    let z = this.zones.get(subnetId);
    if (!z) {
      z = `${this.region}${String.fromCharCode(97 + (this.zones.size % 6))}`;
      this.zones.set(subnetId, z);
    }
    return z;
  }

  reset(): void {
    this.lifecycle.clear();
    this.tokens.clear();
    this.faults.clear();
    this.log.clear();
    this.stats = { runInstancesCalls: 0, instancesLaunched: 0, throttled: 0, calls: {} };
  }
}
