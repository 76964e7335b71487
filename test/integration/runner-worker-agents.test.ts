import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { SimInstance } from "../../local/ec2-sim/index.js";
import { repoRoot, runLocal } from "../../local/runner/run-local.js";
import type { RunSummary } from "../../local/runner/summary.js";
import { parseWorkload } from "../../local/workload.js";
import { ensureBuilt } from "../support/runner-build.js";

/*
 * `npm start -- --worker-agents` while launches still build one-container user data: the real
 * agents wait for worker instances, and today's flow (the crunch-run emulator) runs unchanged.
 */

let summary: RunSummary;
let output = "";
let instances: SimInstance[] = [];

beforeAll(async () => {
  await ensureBuilt();
  summary = await runLocal({
    workload: parseWorkload({ runtimeSeconds: 1, containers: [{ name: "small", count: 2, ram: "1GiB", vcpus: 1 }] }),
    tickMs: 2_000,
    pollInterval: "1s",
    bootDelayMs: 300,
    shutdownDelayMs: 200,
    timeoutMs: 90_000,
    headless: true,
    workerAgents: true,
    dynamodbEndpoint: inject("dynamodbEndpoint"),
    stateDir: join(repoRoot, ".local", "runner-worker-agents-test"),
    out: {
      write: (text: string) => {
        output += text;
      },
    },
    inspect: (services) => {
      instances = services.ec2Sim?.instances() ?? [];
    },
  });
}, 240_000);

describe("--worker-agents leaves one-container instances to the emulator until launches build worker user data", () => {
  it("finishes the workload, one instance per container, as without the option", () => {
    expect(summary.finished, output).toBe(true);
    expect(summary.containers.map((c) => c.state)).toEqual(["Complete", "Complete"]);
    expect(instances.filter((i) => i.tags.ArvadosContainerUUID !== undefined)).toHaveLength(2);
  });
});
