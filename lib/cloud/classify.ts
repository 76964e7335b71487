import type { InstanceType } from "../model/instance-type.js";
import { capacityKey } from "../model/capacity-key.js";
import {
  Ec2CapacityError,
  type Ec2CallOutcome,
  Ec2Error,
  type Ec2ErrorFacts,
  type Ec2Fault,
  Ec2QuotaError,
  Ec2ThrottleError,
} from "../model/cloud-errors.js";

/** The code and message of an EC2 API error (`smithy.APIError` upstream). */
export interface Ec2ApiFault {
  code: string;
  message: string;
}

/** §4.3: aws-sdk-go-v2 `retry.DefaultThrottleErrorCodes`. */
const throttleCodes: ReadonlySet<string> = new Set([
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottledException",
  "TooManyRequestsException",
  "ProvisionedThroughputExceededException",
  "TransactionInProgressException",
  "RequestLimitExceeded",
  "BandwidthLimitExceeded",
  "LimitExceededException",
  "RequestThrottled",
  "SlowDown",
  "PriorRequestNotComplete",
  "EC2ThrottledException",
]);

/** §4.3 `isErrorQuota`. */
const quotaCodes: ReadonlySet<string> = new Set([
  "InstanceLimitExceeded",
  "InsufficientAddressCapacity",
  "InsufficientFreeAddressesInSubnet",
  "InsufficientVolumeCapacity",
  "MaxSpotInstanceCountExceeded",
]);

/** §4.3: codes that another subnet may not give. */
const subnetSpecificCodes: ReadonlySet<string> = new Set([
  "InsufficientInstanceCapacity",
  "InsufficientVolumeCapacity",
  "Unsupported",
]);

// §4.3: Go `(?ms).*( subnet |sufficient free [Ii]pv[46] addresses).*`, i.e. "contains".
const subnetMessage = /( subnet |sufficient free [Ii]pv[46] addresses)/;

/** §4.3 isErrorSubnetSpecific: true if trying the next subnet may help. */
export function isErrorSubnetSpecific(f: Ec2ApiFault): boolean {
  return (
    f.code.includes("Subnet") ||
    subnetSpecificCodes.has(f.code) ||
    (f.code.includes("InvalidParameter") && subnetMessage.test(f.message))
  );
}

/** §4.3 isErrorQuota: an account quota stops every launch. */
export function isErrorQuota(f: Ec2ApiFault): boolean {
  return quotaCodes.has(f.code);
}

/** §4.3 isErrorCapacity: which scope of capacity, if any, the error reports. */
export function isErrorCapacity(f: Ec2ApiFault): { instanceType: boolean; quotaGroup: boolean } {
  if (f.code === "VcpuLimitExceeded") return { instanceType: false, quotaGroup: true };
  if (
    f.code === "InsufficientInstanceCapacity" ||
    (f.code === "Unsupported" && f.message.includes("requested instance type"))
  ) {
    return { instanceType: true, quotaGroup: false };
  }
  return { instanceType: false, quotaGroup: false };
}

/** §4.3 isThrottleError. */
export function isThrottleError(f: Ec2ApiFault): boolean {
  return throttleCodes.has(f.code);
}

/** §4.3 throttleDelayMin / throttleDelayMax. */
export const throttleDelayMinMs = 1_000;
export const throttleDelayMaxMs = 60_000;

/** §4.3 wrapError: the delay after another throttle, `prev*3/2 + 1s` clamped to [1s, 60s]. */
export function nextThrottleDelayMs(prevMs: number): number {
  const d = (prevMs * 3) / 2 + 1_000;
  return Math.min(throttleDelayMaxMs, Math.max(throttleDelayMinMs, d));
}

interface SdkServiceError {
  name: string;
  message: string;
  $fault: "client" | "server";
  $metadata?: { httpStatusCode?: number };
}

function isSdkServiceError(err: unknown): err is SdkServiceError {
  return err instanceof Error && "$fault" in err && (err.$fault === "client" || err.$fault === "server");
}

/** The EC2 code and message of an SDK service error; undefined for an error EC2 did not send. */
export function ec2ApiFault(err: unknown): Ec2ApiFault | undefined {
  // The SDK sets `name` to the EC2 `<Code>` for every Query-protocol error.
  return isSdkServiceError(err) ? { code: err.name, message: err.message } : undefined;
}

/**
 * What a failed RunInstances did, from its error alone (see Ec2CallOutcome). Only an answer
 * from EC2 that names a refusal proves nothing was started; anything else may hide an instance,
 * so the caller must repeat the very same call (same ClientToken) rather than make another.
 */
export function callOutcome(err: unknown): Ec2CallOutcome {
  if (!isSdkServiceError(err)) return "unknown"; // no reply, a timeout, an unreadable reply
  const api: Ec2ApiFault = { code: err.name, message: err.message };
  if (api.code === "IdempotentInstanceTerminated") return "terminated";
  // The token is bound to an earlier request with other parameters (e.g. the config changed
  // since): that request's fate is not in this reply.
  if (api.code === "IdempotentParameterMismatch") return "unknown";
  if (isThrottleError(api) || isErrorQuota(api) || hasCapacityScope(isErrorCapacity(api))) return "failed";
  // A 4xx is a refusal; a 5xx (InternalError, ServiceUnavailable, Unavailable, ...) may come
  // after the work was done.
  return err.$fault === "client" ? "failed" : "unknown";
}

/** True when a capacity error applies to a type or its quota group (§4.3 isErrorCapacity). */
export function hasCapacityScope(c: { instanceType: boolean; quotaGroup: boolean }): boolean {
  return c.instanceType || c.quotaGroup;
}

function baseFacts(err: unknown): Omit<Ec2ErrorFacts, "throttleDelayMs"> {
  const outcome = callOutcome(err);
  if (isSdkServiceError(err)) {
    const fault: Ec2Fault = err.$fault;
    return {
      code: err.name,
      message: err.message,
      fault,
      outcome,
      httpStatusCode: err.$metadata?.httpStatusCode,
      cause: err,
    };
  }
  // No EC2 reply: Node's system errors carry `code` (ECONNREFUSED), the SDK's timeouts a `name`.
  if (!(err instanceof Error))
    return { code: "Unknown", message: String(err), fault: "transport", outcome, cause: err };
  const code = (err as Error & { code?: unknown }).code;
  return {
    code: typeof code === "string" ? code : err.name,
    message: err.message,
    fault: "transport",
    outcome,
    cause: err,
  };
}

/** What the classifier needs besides the error. */
export interface ClassifyContext {
  /** The throttle delay stored after the previous call of this kind (0 if none). */
  throttleDelayMs: number;
  now: Date;
  /** The type being launched, for a capacity error's key. Without it a capacity error gets scope "all". */
  instanceType?: Pick<InstanceType, "ProviderType" | "Preemptible">;
  quotaGroups?: Readonly<Record<string, string>>;
  subnetId?: string;
  nextSubnetIndex?: number;
}

/**
 * §4.3 wrapError: turn any error from an EC2 call into a typed error, checking throttle, then
 * quota, then capacity. The returned error's `throttleDelayMs` is the state to store: the next
 * delay for a throttle, unchanged for quota and capacity (upstream returns before touching it),
 * 0 otherwise.
 */
export function classifyEc2Error(err: unknown, ctx: ClassifyContext): Ec2Error {
  const facts = { ...baseFacts(err), subnetId: ctx.subnetId, nextSubnetIndex: ctx.nextSubnetIndex };
  const api = ec2ApiFault(err);
  if (api && isThrottleError(api)) {
    return new Ec2ThrottleError({ ...facts, throttleDelayMs: nextThrottleDelayMs(ctx.throttleDelayMs) }, ctx.now);
  }
  if (api && isErrorQuota(api)) return new Ec2QuotaError({ ...facts, throttleDelayMs: ctx.throttleDelayMs });
  const capacity = api ? isErrorCapacity(api) : undefined;
  if (capacity && (capacity.instanceType || capacity.quotaGroup)) {
    const scope = ctx.instanceType === undefined ? "all" : capacity.quotaGroup ? "quotaGroup" : "instanceType";
    const key = ctx.instanceType === undefined ? "" : capacityKey(ctx.instanceType, scope, ctx.quotaGroups ?? {});
    return new Ec2CapacityError({ ...facts, throttleDelayMs: ctx.throttleDelayMs }, scope, key);
  }
  return new Ec2Error({ ...facts, throttleDelayMs: 0 });
}
