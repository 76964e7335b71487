import { describe, expect, it } from "vitest";
import type { SimInstance } from "../../local/ec2-sim/index.js";
import { latencyStats, percentile, queuedToLaunchLatencies } from "../../local/runner/summary.js";

/* The runner's latency figures (pure code; no service involved). */

describe("percentile uses the nearest-rank method", () => {
  const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it("gives the smallest value with at least p% of the values at or below it", () => {
    expect(percentile(oneToHundred, 50)).toBe(50);
    expect(percentile(oneToHundred, 99)).toBe(99);
    expect(percentile(oneToHundred, 100)).toBe(100);
    expect(percentile([10, 20, 30], 50)).toBe(20);
    expect(percentile([10, 20, 30, 40], 50)).toBe(20);
  });

  it("does not depend on the order of the values", () => {
    expect(percentile([30, 10, 20], 99)).toBe(30);
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
  });

  it("gives the only value for every p, and nothing for no values", () => {
    expect(percentile([7], 1)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeUndefined();
  });

  it("refuses a p outside (0, 100]", () => {
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it("summarises samples as count, p50, p99 and max", () => {
    expect(latencyStats(oneToHundred)).toEqual({ count: 100, p50Ms: 50, p99Ms: 99, maxMs: 100 });
    expect(latencyStats([])).toBeUndefined();
  });
});

describe("queued → RunInstances latency is measured from created_at to the first instance of each container", () => {
  const created = "2026-01-01T00:00:00.000Z";
  const t0 = Date.parse(created);
  const instance = (id: string, uuid: string | undefined, launchTime: number) =>
    ({
      instanceId: id,
      launchTime,
      tags: uuid === undefined ? {} : { ArvadosContainerUUID: uuid },
    }) as unknown as SimInstance;

  it("takes the earliest instance of a container launched twice, and skips containers never launched", () => {
    const containers = [
      { uuid: "a", createdAt: created },
      { uuid: "b", createdAt: created },
      { uuid: "never", createdAt: created },
    ];
    const instances = [
      instance("i-2", "a", t0 + 9_000),
      instance("i-1", "a", t0 + 3_000),
      instance("i-3", "b", t0 + 5_000),
      instance("i-4", undefined, t0),
    ];
    expect(queuedToLaunchLatencies(containers, instances, "ArvadosContainerUUID")).toEqual([3_000, 5_000]);
  });
});
