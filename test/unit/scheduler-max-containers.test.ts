import { describe, expect, test } from "vitest";
import {
  initialMaxContainers,
  type MaxContainersInput,
  maxSupervisorsFor,
  nextMaxContainers,
  QUIET_AFTER_503_MS,
} from "../../lib/scheduler/max-containers.js";
import { clusterConfig, NOW } from "./scheduler-fixtures.js";

function observed(overrides: Partial<MaxContainersInput> = {}): MaxContainersInput {
  return {
    running: 10,
    now: NOW,
    atQuota: false,
    totalInstances: 10,
    instancesWithinQuota: 0,
    config: clusterConfig(),
    ...overrides,
  };
}

describe("the limit starts at InitialQuotaEstimate, else MaxInstances (§3.2)", () => {
  test("InitialQuotaEstimate wins when set", () => {
    expect(initialMaxContainers(clusterConfig({ InitialQuotaEstimate: 8, MaxInstances: 64 }))).toBe(8);
  });
  test("MaxInstances otherwise", () => {
    expect(initialMaxContainers(clusterConfig({ InitialQuotaEstimate: 0, MaxInstances: 64 }))).toBe(64);
  });
  test("0 (unlimited) when both are 0", () => {
    expect(initialMaxContainers(clusterConfig({ InitialQuotaEstimate: 0, MaxInstances: 0 }))).toBe(0);
  });
});

describe("a new 503 drops the limit to just below the running count (§3.3)", () => {
  test("limit becomes running-1 and the 503 is remembered", () => {
    const next = nextMaxContainers({ maxContainers: 64 }, observed({ last503: NOW - 1, running: 10 }));
    expect(next).toMatchObject({ maxContainers: 9, last503Seen: NOW - 1 });
  });
  test("never below 1", () => {
    expect(nextMaxContainers({ maxContainers: 64 }, observed({ last503: NOW - 1, running: 1 })).maxContainers).toBe(1);
  });
  test("an unlimited (0) limit is also capped by a 503", () => {
    expect(nextMaxContainers({ maxContainers: 0 }, observed({ last503: NOW - 1, running: 5 })).maxContainers).toBe(4);
  });
  test("a 503 already seen does not drop it again", () => {
    const prev = { maxContainers: 9, last503Seen: NOW - 1 };
    expect(nextMaxContainers(prev, observed({ last503: NOW - 1, running: 3 })).maxContainers).toBe(9);
  });
});

describe("after a quiet minute the limit grows to ~10% past the running count (§3.3)", () => {
  test("grows to running*11/10+1 with integer division", () => {
    const prev = { maxContainers: 5, last503Seen: NOW - QUIET_AFTER_503_MS - 1 };
    expect(nextMaxContainers(prev, observed({ last503: NOW - QUIET_AFTER_503_MS - 1, running: 9 })).maxContainers).toBe(
      10,
    );
  });
  test("never shrinks while quiet", () => {
    expect(nextMaxContainers({ maxContainers: 50 }, observed({ running: 9 })).maxContainers).toBe(50);
  });
  test("does not grow within the quiet minute", () => {
    const prev = { maxContainers: 5, last503Seen: NOW - QUIET_AFTER_503_MS };
    expect(nextMaxContainers(prev, observed({ last503: prev.last503Seen, running: 9 })).maxContainers).toBe(5);
  });
  test("an unlimited (0) limit stays unlimited", () => {
    expect(nextMaxContainers({ maxContainers: 0 }, observed({ running: 9 })).maxContainers).toBe(0);
  });
});

describe("the cloud quota clamps the limit (§3.3)", () => {
  test("at quota, the limit becomes the instance count and that count is remembered as within quota", () => {
    const next = nextMaxContainers({ maxContainers: 64 }, observed({ atQuota: true, totalInstances: 7, running: 7 }));
    expect(next).toMatchObject({ maxContainers: 7, instancesWithinQuota: 7 });
  });
  test("at quota with no instances, the limit is 1", () => {
    const next = nextMaxContainers({ maxContainers: 0 }, observed({ atQuota: true, totalInstances: 0, running: 0 }));
    expect(next.maxContainers).toBe(1);
  });
  test("at quota, a limit already below the instance count is kept", () => {
    const next = nextMaxContainers({ maxContainers: 3 }, observed({ atQuota: true, totalInstances: 7, running: 2 }));
    expect(next.maxContainers).toBe(3);
  });
  test("off quota, the limit stays within one of the known-good instance count", () => {
    const next = nextMaxContainers({ maxContainers: 64 }, observed({ instancesWithinQuota: 7, totalInstances: 5 }));
    expect(next).toMatchObject({ maxContainers: 8, instancesWithinQuota: 7 });
  });
  test("more instances than the known-good count raise that count", () => {
    const next = nextMaxContainers({ maxContainers: 64 }, observed({ instancesWithinQuota: 7, totalInstances: 9 }));
    expect(next).toMatchObject({ maxContainers: 10, instancesWithinQuota: 9 });
  });
});

describe("supervisors may use SupervisorFraction of the limit (§3.3 maxSupervisors)", () => {
  test("the fraction is truncated", () => {
    expect(maxSupervisorsFor(5, 0.5)).toBe(2);
  });
  test("at least 1 when a fraction is set and the limit is finite", () => {
    expect(maxSupervisorsFor(1, 0.5)).toBe(1);
  });
  test("0 (no supervisor limit) when the limit is unlimited or the fraction is 0", () => {
    expect(maxSupervisorsFor(0, 0.5)).toBe(0);
    expect(maxSupervisorsFor(10, 0)).toBe(0);
  });
});
