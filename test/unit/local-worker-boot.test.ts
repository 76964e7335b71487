import { describe, expect, it } from "vitest";
import { localBootDelayMs, realisticBootSeconds } from "../../local/worker-sim/local-workers.js";
import { isWorkerUserData } from "../../local/worker-sim/agents.js";
import { parseWorkload } from "../../local/workload.js";
import { buildWorkerUserData } from "../../lib/cloud/worker-agent.js";
import { agentArgs } from "../support/worker-agent-harness.js";

describe("a local worker boots for bootSeconds, by default a realistic 90 s of EC2 time scaled by the tick", () => {
  it("scales the realistic boot by the tick (the local minute)", () => {
    expect(realisticBootSeconds).toBe(90);
    expect(localBootDelayMs(undefined, 60_000)).toBe(90_000);
    expect(localBootDelayMs(undefined, 5_000)).toBe(7_500);
  });

  it("takes a workload's bootSeconds as local seconds", () => {
    const workload = parseWorkload({ bootSeconds: 2.5, containers: [{ name: "a", ram: "1GiB", vcpus: 1 }] });
    expect(localBootDelayMs(workload.bootSeconds, 5_000)).toBe(2_500);
    expect(() => parseWorkload({ bootSeconds: -1, containers: [{ name: "a", ram: "1GiB", vcpus: 1 }] })).toThrow(
      /bootSeconds/,
    );
  });
});

describe("only a worker's user data runs its agent locally", () => {
  it("tells the agent's user data from other boot scripts", () => {
    expect(isWorkerUserData(buildWorkerUserData(agentArgs()))).toBe(true);
    expect(isWorkerUserData("#!/bin/sh\necho '# Containers by ami-launch-index'\n")).toBe(false);
    expect(isWorkerUserData(undefined)).toBe(false);
  });
});
