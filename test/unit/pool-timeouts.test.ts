import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import type { BootDeployment } from "../../lib/cloud/launch-user-data.js";
import { workerLaunchUserData } from "../../lib/cloud/worker-launch-user-data.js";
import { poolTimeouts } from "../../lib/config/pool-timeouts.js";
import type { ClusterConfig } from "../../lib/config/types.js";
import type { WorkerCloud } from "../../lib/model/instance-cloud.js";
import { poolDepsFromEnv } from "../../lib/runtime/worker-mode.js";
import { testClusterConfig } from "../support/cluster-config.js";
import { containerUuid } from "../support/fixtures.js";
import { posixShell } from "../support/worker-agent-harness.js";

// Issue #18: TimeoutIdle, TimeoutTERM and TimeoutBooting come from the cluster config (§6.2),
// with upstream's pool defaults when absent or 0 (§4.1), and the agent and the dispatcher read
// the same values.

const deployment: BootDeployment = {
  apiHost: "zzzzz.example.org",
  apiHostInsecure: false,
  tokenParameterName: "/arvados/zzzzz/dispatch-token",
  region: "eu-west-1",
};

/** A shell variable's value as the agent's settings assign it. */
function assigned(script: string, name: string): string {
  const line = script.split("\n").find((l) => l.startsWith(`${name}=`)) ?? "";
  return execFileSync(posixShell, ["-c", `${line}; printf '%s' "$${name}"`]).toString("utf8");
}

function userData(config: ClusterConfig, timings = {}): string {
  const [instanceType] = Object.values(config.InstanceTypes);
  if (instanceType === undefined) throw new Error("the test config has no types");
  return workerLaunchUserData(
    config,
    deployment,
    { instanceType, instanceSecret: "f".repeat(40), assignments: [[{ containerUuid: containerUuid(1), attempt: 1 }]] },
    timings,
  );
}

const noCloud: WorkerCloud = {
  launchWorkers: async () => {
    throw new Error("not in this test");
  },
  assign: async () => undefined,
  kill: async () => undefined,
  unassign: async () => undefined,
};

describe("the worker timeouts come from Containers.CloudVMs, upstream's defaults when absent or 0", () => {
  it("absent: TimeoutIdle 1m, TimeoutTERM 2m, TimeoutBooting 10m", () => {
    expect(poolTimeouts(testClusterConfig())).toEqual({
      timeoutIdleMs: 60_000,
      timeoutTermMs: 120_000,
      timeoutBootingMs: 600_000,
    });
  });

  it("set: each read in Arvados duration units", () => {
    const config = testClusterConfig("TimeoutIdle: 3m\nTimeoutTERM: 45s\nTimeoutBooting: 20m");
    expect(poolTimeouts(config)).toEqual({
      timeoutIdleMs: 180_000,
      timeoutTermMs: 45_000,
      timeoutBootingMs: 1_200_000,
    });
  });

  it("0 means the default, as upstream's pool reads it", () => {
    const config = testClusterConfig("TimeoutIdle: 0s\nTimeoutTERM: 0s\nTimeoutBooting: 0s");
    expect(poolTimeouts(config)).toEqual({ timeoutIdleMs: 60_000, timeoutTermMs: 120_000, timeoutBootingMs: 600_000 });
  });
});

describe("the agent is given the config's TimeoutIdle and TimeoutTERM", () => {
  it("in its settings, in whole seconds rounded up", () => {
    const script = userData(testClusterConfig("TimeoutIdle: 3m\nTimeoutTERM: 1500ms"));
    expect(assigned(script, "timeout_idle")).toBe("180");
    expect(assigned(script, "timeout_term")).toBe("2");
  });

  it("upstream's defaults when the config leaves them out", () => {
    const script = userData(testClusterConfig());
    expect(assigned(script, "timeout_idle")).toBe("60");
    expect(assigned(script, "timeout_term")).toBe("120");
  });

  it("a launch's explicit timings win over the config (tests shorten them)", () => {
    const script = userData(testClusterConfig("TimeoutIdle: 3m"), { timeoutIdleSeconds: 2, pollSeconds: 0.2 });
    expect(assigned(script, "timeout_idle")).toBe("2");
    expect(assigned(script, "poll_seconds")).toBe("0.2");
  });
});

describe("the launch pass's PoolSettings use the same TimeoutIdle as the agent", () => {
  it("pool mode: timeoutIdleMs from the config (0 → the default)", () => {
    const env = { WORKER_MODE: "pool", ARVADOS_API_HOST: "zzzzz.example.org", AWS_REGION: "eu-west-1" };
    const idle = { idleSince: async () => ({}) };
    expect(poolDepsFromEnv(testClusterConfig("TimeoutIdle: 3m"), noCloud, idle, env)?.settings.timeoutIdleMs).toBe(
      180_000,
    );
    expect(poolDepsFromEnv(testClusterConfig("TimeoutIdle: 0s"), noCloud, idle, env)?.settings.timeoutIdleMs).toBe(
      60_000,
    );
    expect(poolDepsFromEnv(testClusterConfig(), noCloud, idle, env)?.idle).toBe(idle);
  });

  it("the assignment margin is a few agent polls, and never more than a quarter of TimeoutIdle", () => {
    const env = { WORKER_MODE: "pool", ARVADOS_API_HOST: "zzzzz.example.org", AWS_REGION: "eu-west-1" };
    const idle = { idleSince: async () => ({}) };
    const margin = (text: string) =>
      poolDepsFromEnv(testClusterConfig(text), noCloud, idle, env)?.settings.assignMarginMs;
    expect(margin("TimeoutIdle: 3m")).toBe(20_000);
    expect(margin("TimeoutIdle: 20s")).toBe(5_000);
  });

  it("per-container mode: no pool deps", () => {
    expect(poolDepsFromEnv(testClusterConfig(), noCloud, { idleSince: async () => ({}) }, {})).toBeUndefined();
  });
});
