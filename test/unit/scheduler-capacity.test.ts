import { describe, expect, test } from "vitest";
import {
  applyCapacityError,
  applyQuotaError,
  applyThrottle,
  CAPACITY_ERROR_TTL_MS,
  clearQuotaIfFewer,
  expire,
  isAtCapacity,
  isAtQuota,
  isThrottled,
  QUOTA_ERROR_TTL_MS,
} from "../../lib/scheduler/capacity.js";
import { capacityKeysFor } from "../../lib/model/capacity-key.js";
import { type CapacityState, emptyCapacityState } from "../../lib/model/dispatch-state.js";
import { instanceType, NOW } from "./scheduler-fixtures.js";

const quotaGroups = { m: "standard", p5: "p5" };
const m5 = instanceType(1, { ProviderType: "m5.large" });
const m5spot = instanceType(2, { ProviderType: "m5.large", Preemptible: true });
const p5 = instanceType(3, { ProviderType: "p5.48xlarge" });

function blocked(key: string, until = NOW + 1): CapacityState {
  return { atCapacityUntil: { [key]: until } };
}

describe("capacity keys for a type are all-types, its quota group, and its provider type (§4.1)", () => {
  test("an on-demand type checks '', its quota group and its ProviderType", () => {
    expect(capacityKeysFor(m5, quotaGroups)).toEqual(["", "standard", "m5.large"]);
  });
  test("a preemptible type checks its -spot quota group and its ProviderType-preemptible key", () => {
    expect(capacityKeysFor(m5spot, quotaGroups)).toEqual(["", "standard-spot", "m5.large-preemptible"]);
  });
});

describe("a type is at capacity while any of its keys is blocked (§4.1 AtCapacity)", () => {
  test("a capacity error for all types blocks every type", () => {
    expect(isAtCapacity(blocked(""), p5, quotaGroups, NOW)).toBe(true);
  });
  test("a quota-group capacity error blocks types of that group only", () => {
    expect(isAtCapacity(blocked("standard"), m5, quotaGroups, NOW)).toBe(true);
    expect(isAtCapacity(blocked("standard"), p5, quotaGroups, NOW)).toBe(false);
  });
  test("a type capacity error does not block the preemptible variant of that type", () => {
    expect(isAtCapacity(blocked("m5.large"), m5, quotaGroups, NOW)).toBe(true);
    expect(isAtCapacity(blocked("m5.large"), m5spot, quotaGroups, NOW)).toBe(false);
  });
  test("a block ends at its until time", () => {
    expect(isAtCapacity(blocked("m5.large", NOW), m5, quotaGroups, NOW)).toBe(false);
  });
});

describe("the pool is at quota on any of three conditions (§4.1 AtQuota)", () => {
  test("waiting for fewer instances is at quota whatever the count", () => {
    expect(isAtQuota({ atCapacityUntil: {}, atQuotaUntilFewerInstances: 3 }, 0, 0, NOW)).toBe(true);
  });
  test("a fresh quota error with no instances is at quota until its time passes", () => {
    const state = { atCapacityUntil: {}, atQuotaUntil: NOW + 1 };
    expect(isAtQuota(state, 0, 0, NOW)).toBe(true);
    expect(isAtQuota(state, 0, 0, NOW + 1)).toBe(false);
  });
  test("MaxInstances is reached when the instance count equals it", () => {
    expect(isAtQuota(emptyCapacityState(), 3, 3, NOW)).toBe(true);
    expect(isAtQuota(emptyCapacityState(), 2, 3, NOW)).toBe(false);
  });
  test("MaxInstances 0 means no limit", () => {
    expect(isAtQuota(emptyCapacityState(), 1000, 0, NOW)).toBe(false);
  });
});

describe("a quota error records what the account evidently holds (§4.1)", () => {
  test("with no other instance (n < 1) creates wait one quota TTL", () => {
    const next = applyQuotaError(emptyCapacityState(), 1, NOW);
    expect(next.atQuotaUntil).toBe(NOW + QUOTA_ERROR_TTL_MS);
    expect(next.atQuotaUntilFewerInstances).toBeUndefined();
  });
  test("with others running, at quota until fewer than n = count-1 instances", () => {
    expect(applyQuotaError(emptyCapacityState(), 5, NOW).atQuotaUntilFewerInstances).toBe(4);
  });
  test("a lower existing threshold is kept", () => {
    const state = { atCapacityUntil: {}, atQuotaUntilFewerInstances: 2 };
    expect(applyQuotaError(state, 5, NOW).atQuotaUntilFewerInstances).toBe(2);
  });
  test("a higher existing threshold is lowered to n", () => {
    const state = { atCapacityUntil: {}, atQuotaUntilFewerInstances: 9 };
    expect(applyQuotaError(state, 5, NOW).atQuotaUntilFewerInstances).toBe(4);
  });
  test("the given state is not changed", () => {
    const state = emptyCapacityState();
    applyQuotaError(state, 5, NOW);
    expect(state).toEqual(emptyCapacityState());
  });
});

describe("a capacity error blocks its key for one capacity TTL (§4.1)", () => {
  test("the key is blocked until now + TTL and other keys are kept", () => {
    const next = applyCapacityError(blocked("x", NOW + 5), "m5.large", NOW);
    expect(next.atCapacityUntil).toEqual({ x: NOW + 5, "m5.large": NOW + CAPACITY_ERROR_TTL_MS });
  });
});

describe("a rate-limit error suspends creates until its retry time (§4.1 throttleCreate)", () => {
  test("throttled before the retry time, not at it", () => {
    const state = applyThrottle(emptyCapacityState(), NOW + 10);
    expect(isThrottled(state, NOW + 9)).toBe(true);
    expect(isThrottled(state, NOW + 10)).toBe(false);
  });
});

describe("pool sync clears 'at quota until fewer instances' once the count drops below it (§4.1)", () => {
  const state = { atCapacityUntil: {}, atQuotaUntilFewerInstances: 4 };
  test("still set at the threshold count", () => {
    expect(clearQuotaIfFewer(state, 4).atQuotaUntilFewerInstances).toBe(4);
  });
  test("cleared below it", () => {
    const next = clearQuotaIfFewer(state, 3);
    expect(next.atQuotaUntilFewerInstances).toBeUndefined();
    expect(isAtQuota(next, 3, 0, NOW)).toBe(false);
  });
});

describe("expire drops every time that has passed", () => {
  test("past capacity, quota and throttle times go; future ones and the fewer-instances mark stay", () => {
    const state: CapacityState = {
      atCapacityUntil: { old: NOW, fresh: NOW + 1 },
      atQuotaUntil: NOW - 1,
      atQuotaUntilFewerInstances: 2,
      throttledUntil: NOW,
    };
    expect(expire(state, NOW)).toEqual({ atCapacityUntil: { fresh: NOW + 1 }, atQuotaUntilFewerInstances: 2 });
  });
});
