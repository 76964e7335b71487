import { EC2ServiceException } from "@aws-sdk/client-ec2";
import { describe, expect, it } from "vitest";
import { capacityKey, capacityKeysFor } from "../../lib/model/capacity-key.js";
import {
  callOutcome,
  classifyEc2Error,
  isErrorCapacity,
  isErrorQuota,
  isErrorSubnetSpecific,
  isThrottleError,
  nextThrottleDelayMs,
} from "../../lib/cloud/classify.js";
import { Ec2CapacityError, Ec2Error, Ec2QuotaError, Ec2ThrottleError } from "../../lib/model/cloud-errors.js";

/** An error exactly as the SDK raises it for an EC2 `<Error><Code>` reply. */
function ec2Error(code: string, message = "", status = 400): EC2ServiceException {
  return new EC2ServiceException({
    name: code,
    message,
    $fault: status >= 500 ? "server" : "client",
    $metadata: { httpStatusCode: status },
  });
}

const fault = (code: string, message = "") => ({ code, message });
const quotaGroups = { m: "standard", p5: "p5" };
const m5 = { ProviderType: "m5.large", Preemptible: false };
const m5spot = { ProviderType: "m5.large", Preemptible: true };
const now = new Date("2025-01-01T00:00:00Z");

describe("isErrorSubnetSpecific: errors another subnet may not give (§4.3)", () => {
  it.each([
    ["InvalidSubnetID.NotFound", "", true],
    ["InsufficientFreeAddressesInSubnet", "", true],
    ["InsufficientInstanceCapacity", "", true],
    ["InsufficientVolumeCapacity", "", true],
    ["Unsupported", "anything", true],
    ["InvalidParameterValue", "Value for parameter subnet is invalid: no such subnet ", true],
    ["InvalidParameterValue", "Invalid value for subnet-id: x", false],
    ["InvalidParameterCombination", "Network interfaces and an instance-level subnet ID ", true],
    ["InvalidParameter", "There are not sufficient free Ipv4 addresses", true],
    ["InvalidParameter", "There are not sufficient free ipv6 addresses", true],
    ["InvalidParameterValue", "bad image", false],
    ["InstanceLimitExceeded", "", false],
    ["VcpuLimitExceeded", "", false],
    ["RequestLimitExceeded", "", false],
  ])("%s %j → %s", (code, message, expected) => {
    expect(isErrorSubnetSpecific(fault(code, message))).toBe(expected);
  });
});

describe("isErrorQuota: account quotas (§4.3)", () => {
  it.each([
    ["InstanceLimitExceeded", true],
    ["InsufficientAddressCapacity", true],
    ["InsufficientFreeAddressesInSubnet", true],
    ["InsufficientVolumeCapacity", true],
    ["MaxSpotInstanceCountExceeded", true],
    ["VcpuLimitExceeded", false],
    ["InsufficientInstanceCapacity", false],
  ])("%s → %s", (code, expected) => {
    expect(isErrorQuota(fault(code))).toBe(expected);
  });
});

describe("isErrorCapacity: VcpuLimitExceeded is group capacity, the others type capacity (§4.3)", () => {
  it.each([
    ["VcpuLimitExceeded", "", { instanceType: false, quotaGroup: true }],
    ["InsufficientInstanceCapacity", "", { instanceType: true, quotaGroup: false }],
    ["Unsupported", "Your requested instance type (x) is not supported", { instanceType: true, quotaGroup: false }],
    ["Unsupported", "The requested configuration is not supported", { instanceType: false, quotaGroup: false }],
    ["InstanceLimitExceeded", "", { instanceType: false, quotaGroup: false }],
  ])("%s %j → %j", (code, message, expected) => {
    expect(isErrorCapacity(fault(code, message))).toEqual(expected);
  });
});

describe("isThrottleError: aws-sdk-go-v2's throttle codes (§4.3)", () => {
  it.each([
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
  ])("%s is a throttle", (code) => {
    expect(isThrottleError(fault(code))).toBe(true);
  });

  it("InstanceLimitExceeded is not a throttle", () => {
    expect(isThrottleError(fault("InstanceLimitExceeded"))).toBe(false);
  });
});

describe("the throttle delay grows as prev*3/2 + 1s within [1s, 60s] (§4.3 wrapError)", () => {
  it("goes 1s, 2.5s, 4.75s, 8.125s, ... and stays at 60s", () => {
    const seq: number[] = [];
    let d = 0;
    for (let i = 0; i < 12; i++) {
      d = nextThrottleDelayMs(d);
      seq.push(d);
    }
    expect(seq.slice(0, 4)).toEqual([1000, 2500, 4750, 8125]);
    expect(seq.slice(-3)).toEqual([60_000, 60_000, 60_000]);
  });
});

describe("classifyEc2Error checks throttle, then quota, then capacity (§4.3 wrapError)", () => {
  const ctx = { throttleDelayMs: 2500, now, instanceType: m5, quotaGroups };

  it("turns a throttle into Ec2ThrottleError with the next delay and earliest retry", () => {
    const e = classifyEc2Error(ec2Error("RequestLimitExceeded", "Request limit exceeded.", 503), ctx);
    expect(e).toBeInstanceOf(Ec2ThrottleError);
    expect(e).toMatchObject({ retryAfterMs: 4750, throttleDelayMs: 4750, code: "RequestLimitExceeded" });
    expect((e as Ec2ThrottleError).earliestRetry).toEqual(new Date(now.getTime() + 4750));
  });

  it("turns a final InsufficientFreeAddressesInSubnet into a quota error", () => {
    expect(classifyEc2Error(ec2Error("InsufficientFreeAddressesInSubnet"), ctx)).toBeInstanceOf(Ec2QuotaError);
  });

  it("keeps the throttle delay after a quota or capacity error, as upstream returns before resetting it", () => {
    expect(classifyEc2Error(ec2Error("InstanceLimitExceeded"), ctx).throttleDelayMs).toBe(2500);
    expect(classifyEc2Error(ec2Error("VcpuLimitExceeded"), ctx).throttleDelayMs).toBe(2500);
  });

  it("turns InsufficientInstanceCapacity into type capacity keyed by the provider type", () => {
    const e = classifyEc2Error(ec2Error("InsufficientInstanceCapacity", "", 500), ctx);
    expect(e).toBeInstanceOf(Ec2CapacityError);
    expect(e).toMatchObject({ scope: "instanceType", capacityKey: "m5.large" });
  });

  it("keys a preemptible type's capacity with -preemptible", () => {
    const e = classifyEc2Error(ec2Error("InsufficientInstanceCapacity"), { ...ctx, instanceType: m5spot });
    expect(e).toMatchObject({ scope: "instanceType", capacityKey: "m5.large-preemptible" });
  });

  it("turns Unsupported 'requested instance type' into type capacity", () => {
    const e = classifyEc2Error(
      ec2Error("Unsupported", "Your requested instance type (m5.large) is not supported"),
      ctx,
    );
    expect(e).toMatchObject({ scope: "instanceType", capacityKey: "m5.large" });
  });

  it("turns VcpuLimitExceeded into quota-group capacity keyed by the group", () => {
    const e = classifyEc2Error(ec2Error("VcpuLimitExceeded"), ctx);
    expect(e).toBeInstanceOf(Ec2CapacityError);
    expect(e).toMatchObject({ scope: "quotaGroup", capacityKey: "standard" });
  });

  it("returns any other EC2 error as a plain Ec2Error with its code and resets the throttle delay", () => {
    const e = classifyEc2Error(ec2Error("InvalidAMIID.NotFound", "no such image"), ctx);
    expect(e.constructor).toBe(Ec2Error);
    expect(e).toMatchObject({
      code: "InvalidAMIID.NotFound",
      fault: "client",
      httpStatusCode: 400,
      throttleDelayMs: 0,
    });
  });

  it("marks an error without an EC2 reply as a transport fault", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    expect(classifyEc2Error(refused, ctx)).toMatchObject({
      code: "ECONNREFUSED",
      fault: "transport",
      throttleDelayMs: 0,
    });
  });
});

describe("callOutcome: only an EC2 refusal proves a RunInstances started nothing", () => {
  it.each([
    ["a client error", ec2Error("InvalidAMIID.NotFound", "no such image", 400)],
    [
      "InsufficientInstanceCapacity, although EC2 sends it with HTTP 500",
      ec2Error("InsufficientInstanceCapacity", "", 500),
    ],
    ["a throttle, although EC2 sends RequestLimitExceeded with HTTP 503", ec2Error("RequestLimitExceeded", "", 503)],
    ["a quota code", ec2Error("InstanceLimitExceeded")],
    ["a quota-group capacity code", ec2Error("VcpuLimitExceeded")],
  ])("%s is a known failure", (_what, err) => {
    expect(callOutcome(err)).toBe("failed");
  });

  it.each([
    ["InternalError", ec2Error("InternalError", "", 500)],
    ["ServiceUnavailable", ec2Error("ServiceUnavailable", "", 503)],
    ["Unavailable", ec2Error("Unavailable", "", 503)],
    ["any other server error", ec2Error("SomethingNew", "", 502)],
    ["a token bound to an earlier request with other parameters", ec2Error("IdempotentParameterMismatch")],
    ["no reply (connection reset)", Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })],
    ["a timeout", Object.assign(new Error("timed out"), { name: "TimeoutError" })],
  ])("%s leaves the outcome unknown", (_what, err) => {
    expect(callOutcome(err)).toBe("unknown");
  });

  it("IdempotentInstanceTerminated says the token's instance was started and is gone", () => {
    expect(callOutcome(ec2Error("IdempotentInstanceTerminated"))).toBe("terminated");
  });

  it("every classified error carries the outcome", () => {
    const ctx = { throttleDelayMs: 0, now, instanceType: m5, quotaGroups };
    expect(classifyEc2Error(ec2Error("InsufficientInstanceCapacity", "", 500), ctx)).toMatchObject({
      outcome: "failed",
    });
    expect(classifyEc2Error(ec2Error("InternalError", "", 500), ctx)).toMatchObject({
      outcome: "unknown",
      fault: "server",
    });
    expect(classifyEc2Error(new Error("socket hang up"), ctx)).toMatchObject({
      outcome: "unknown",
      fault: "transport",
    });
  });
});

describe("capacity keys match §4.1 atCapacityUntil", () => {
  it("uses ProviderType(-preemptible), the quota group, or '' for all types", () => {
    expect(capacityKey(m5, "instanceType", quotaGroups)).toBe("m5.large");
    expect(capacityKey(m5spot, "instanceType", quotaGroups)).toBe("m5.large-preemptible");
    expect(capacityKey(m5spot, "quotaGroup", quotaGroups)).toBe("standard-spot");
    expect(capacityKey(m5, "all", quotaGroups)).toBe("");
  });

  it("lists all three keys a type must be clear of", () => {
    expect(capacityKeysFor({ ProviderType: "p5.48xlarge", Preemptible: false }, quotaGroups)).toEqual([
      "",
      "p5",
      "p5.48xlarge",
    ]);
  });
});
