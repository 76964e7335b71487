import { Ec2SimError } from "./model.js";

/**
 * A FaultSpec makes the simulator answer matching calls with an EC2 error: e.g.
 * `{ code: "InsufficientInstanceCapacity", instanceType: "m5.large", times: 2 }`.
 */
export interface FaultSpec {
  /** The EC2 error code to answer with. */
  code: string;
  /** Defaults to a message shaped like EC2's for the well-known codes. */
  message?: string;
  /** HTTP status; defaults to EC2's for the code (503 throttle, 500 capacity, else 400). */
  status?: number;
  /** The Action it applies to; default RunInstances. */
  action?: string;
  /** Only launches of this EC2 instance type. */
  instanceType?: string;
  /** Only launches into this subnet. */
  subnetId?: string;
  /** How many matching calls fail; absent = until removed. */
  times?: number;
}

/** What a call looks like to the fault matcher. */
export interface FaultContext {
  action: string;
  instanceType?: string;
  subnetId?: string;
}

const defaultStatus: Record<string, number> = {
  RequestLimitExceeded: 503,
  InsufficientInstanceCapacity: 500,
};

function defaultMessage(code: string, ctx: FaultContext): string {
  switch (code) {
    case "InsufficientInstanceCapacity":
      return `We currently do not have sufficient ${ctx.instanceType ?? ""} capacity in the Availability Zone you requested. Our system will be working on provisioning additional capacity. You can currently get ${ctx.instanceType ?? ""} capacity by not specifying an Availability Zone in your request or choosing a different Availability Zone.`;
    case "InsufficientFreeAddressesInSubnet":
      return `There are not enough free addresses in subnet '${ctx.subnetId ?? ""}' to satisfy the requested number of instances.`;
    case "InstanceLimitExceeded":
      return "Your quota allows for 0 more running instance(s). You requested at least 1.";
    case "VcpuLimitExceeded":
      return "You have requested more vCPU capacity than your current vCPU limit allows for the instance bucket that the specified instance type belongs to.";
    case "RequestLimitExceeded":
      return "Request limit exceeded.";
    case "Unsupported":
      return `Your requested instance type (${ctx.instanceType ?? ""}) is not supported in your requested Availability Zone.`;
    default:
      return `Injected ${code}.`;
  }
}

/** A registered fault with its id. */
export interface RegisteredFault extends FaultSpec {
  id: number;
}

/** FaultInjector holds the injected faults and picks the first that matches a call. */
export class FaultInjector {
  private faults: RegisteredFault[] = [];
  private nextId = 1;

  add(spec: FaultSpec): number {
    const id = this.nextId++;
    this.faults.push({ ...spec, id });
    return id;
  }

  remove(id: number): boolean {
    const before = this.faults.length;
    this.faults = this.faults.filter((f) => f.id !== id);
    return this.faults.length < before;
  }

  clear(): void {
    this.faults = [];
  }

  list(): RegisteredFault[] {
    return this.faults.map((f) => ({ ...f }));
  }

  /** The error for this call, consuming one use of the fault, or undefined. */
  take(ctx: FaultContext): Ec2SimError | undefined {
    const f = this.faults.find(
      (x) =>
        (x.action ?? "RunInstances") === ctx.action &&
        (x.instanceType === undefined || x.instanceType === ctx.instanceType) &&
        (x.subnetId === undefined || x.subnetId === ctx.subnetId),
    );
    if (!f) return undefined;
    if (f.times !== undefined) {
      f.times -= 1;
      if (f.times <= 0) this.remove(f.id);
    }
    return new Ec2SimError(f.code, f.message ?? defaultMessage(f.code, ctx), f.status ?? defaultStatus[f.code] ?? 400);
  }
}

/** Token-bucket settings: `burst` calls at once, refilled at `refillPerSecond`. */
export interface TokenBucketSettings {
  burst: number;
  refillPerSecond: number;
}

/** The default RunInstances throttle model: a burst of 5, refilled at 2 per second. */
export const runInstancesBucket: TokenBucketSettings = { burst: 5, refillPerSecond: 2 };

/** TokenBucket is EC2's request-rate model: a call takes a token; none left = RequestLimitExceeded. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly settings: TokenBucketSettings,
    private readonly clock: () => number,
  ) {
    this.tokens = settings.burst;
    this.last = clock();
  }

  /** Take a token if one is left. */
  take(): boolean {
    const now = this.clock();
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.last = now;
    this.tokens = Math.min(this.settings.burst, this.tokens + elapsed * this.settings.refillPerSecond);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
