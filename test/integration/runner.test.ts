import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { Container } from "../../lib/model/container.js";
import type { SimInstance } from "../../local/ec2-sim/index.js";
import { BuildMissingError } from "../../local/runner/plumbing.js";
import { repoRoot, runLocal } from "../../local/runner/run-local.js";
import { PortBusyError } from "../../local/runner/services.js";
import type { RunSummary } from "../../local/runner/summary.js";
import { parseWorkload } from "../../local/workload.js";
import type { QueueEntry } from "../../lib/model/entry.js";
import { QueueStore } from "../../lib/store/queue-store.js";
import { emfMetrics, emittedMetrics } from "../support/metric-spec.js";
import { ensureBuilt } from "../support/runner-build.js";

/*
 * `npm start`'s engine, end to end: the built handlers (dist/) in their own processes, fed by
 * serverless.yml's stream mappings and schedules, against DynamoDB Local and the Arvados and
 * EC2 simulators, with crunch-run played on the instances. One run; each test reads one rule
 * off what the services hold at the end (read directly, not from the runner's own summary).
 */

const workload = parseWorkload({
  runtimeSeconds: 1,
  // Both subnets of the default config refuse the cheapest type once: launches must fall through.
  ec2Faults: [{ code: "InsufficientInstanceCapacity", instanceType: "m5.large", times: 2 }],
  containers: [
    { name: "supervisor", supervisor: true, priority: 900, ram: "1GiB", vcpus: 1 },
    { name: "small", count: 2, priority: 500, ram: "1GiB", vcpus: 1 },
    { name: "highmem", priority: 300, ram: "12GiB", vcpus: 2 },
    { name: "spot", priority: 200, ram: "2GiB", vcpus: 1, preemptible: true },
    // EC2 reclaims its spot instance a second into the run: cleanup, woken by the EventBridge
    // rule, must terminate the instance and cancel the container (upstream: "not running on any worker").
    {
      name: "spot-reclaimed",
      priority: 150,
      ram: "2GiB",
      vcpus: 1,
      preemptible: true,
      runtimeSeconds: 60,
      spotInterruptionAfterSeconds: 1,
    },
    { name: "unsatisfiable", priority: 100, ram: "2TiB", vcpus: 4 },
    // Two requests 1 ms apart: container priorities ~6.8e17 (§5.6), exactly 1 apart.
    { name: "exact", count: 2, priority: 600, requestCreatedAtOffsetMs: 0, ram: "1GiB", vcpus: 1 },
  ],
});

let summary: RunSummary;
let output = "";
const containers = new Map<string, Container>(); // by label
let instances: SimInstance[] = [];
let entries: Map<string, QueueEntry>;
/** Container uuids in the order Arvados accepted their locks. */
let lockOrder: string[] = [];

const stateDir = join(repoRoot, ".local", "runner-test");
const tagged = (uuid: string) => instances.filter((i) => i.tags.ArvadosContainerUUID === uuid);
const uuidOf = (label: string) => containers.get(label)?.uuid ?? `no container ${label}`;

beforeAll(async () => {
  await ensureBuilt();
  summary = await runLocal({
    workload,
    tickMs: 2_000,
    pollInterval: "1s",
    bootDelayMs: 300,
    shutdownDelayMs: 200,
    timeoutMs: 90_000,
    headless: true,
    dynamodbEndpoint: inject("dynamodbEndpoint"),
    stateDir,
    out: {
      write: (text: string) => {
        output += text;
      },
    },
    inspect: async (services, s) => {
      for (const c of s.containers) {
        const record = services.arvadosSim?.getContainer(c.uuid);
        if (record !== undefined) containers.set(c.label, record);
      }
      instances = services.ec2Sim?.instances() ?? [];
      lockOrder = (services.arvadosSim?.requests() ?? [])
        .filter((r) => r.method === "POST" && r.path.endsWith("/lock") && r.status === 200)
        .map((r) => r.path.split("/")[4] ?? "");
      entries = (await new QueueStore(services.ddb, services.tableName).scan()).entries;
    },
  });
}, 240_000);

describe("npm start runs a workload to the end with the same handlers Lambda runs", () => {
  it("finishes the workload before its timeout", () => {
    expect(summary.finished, output).toBe(true);
    expect(containers.size).toBe(9);
  });

  it("completes every container some instance type can run", () => {
    for (const label of ["supervisor", "small-1", "small-2", "highmem", "spot"]) {
      expect({ label, state: containers.get(label)?.state }).toEqual({ label, state: "Complete" });
    }
  });

  it("cancels the container no type can satisfy with upstream's runtime_status.error", () => {
    const c = containers.get("unsatisfiable");
    expect(c?.state).toBe("Cancelled");
    expect(c?.runtime_status?.error).toBe("constraints not satisfiable by any configured instance type");
    expect(tagged(uuidOf("unsatisfiable"))).toEqual([]);
  });

  it("starts exactly one instance per launched container", () => {
    for (const label of [
      "supervisor",
      "small-1",
      "small-2",
      "highmem",
      "spot",
      "spot-reclaimed",
      "exact-1",
      "exact-2",
    ]) {
      expect({ label, instances: tagged(uuidOf(label)).length }).toEqual({ label, instances: 1 });
    }
    expect(instances.filter((i) => i.tags.ArvadosContainerUUID !== undefined)).toHaveLength(8);
  });

  it("carries real int64 priorities exactly and locks in their order, two 1 apart included (§5.6)", () => {
    const [older, younger] = [containers.get("exact-1"), containers.get("exact-2")];
    expect(older?.priority).toBeGreaterThan(2n ** 53n);
    expect((older?.priority ?? 0n) - (younger?.priority ?? 0n)).toBe(1n);
    const lockIndex = (label: string) => lockOrder.indexOf(uuidOf(label));
    expect(lockIndex("exact-1")).toBeGreaterThanOrEqual(0);
    expect(lockIndex("exact-1")).toBeLessThan(lockIndex("exact-2"));
  });

  it("on a spot interruption warning, cleanup terminates the instance and cancels its running container at once", () => {
    expect(summary.spotInterruptions).toEqual({ warned: 1, reclaimed: 0 });
    // Cancelled, not Complete: its 60 s runtime never ran out.
    expect(containers.get("spot-reclaimed")?.state).toBe("Cancelled");
    const [instance] = tagged(uuidOf("spot-reclaimed"));
    expect(instance?.market).toBe("spot");
    // Terminated by cleanup's TerminateInstances, not by EC2 at the end of the warning.
    expect(instance?.stateReason?.code).toBe("Client.UserInitiatedShutdown");
  });

  it("leaves no instance running", () => {
    expect(instances.filter((i) => i.state !== "terminated" && i.state !== "shutting-down")).toEqual([]);
  });

  it("runs the preemptible container on a spot instance", () => {
    const [instance] = tagged(uuidOf("spot"));
    expect(instance?.market).toBe("spot");
    expect(instance?.instanceType).toBe("m5.xlarge");
  });

  it("falls through to the next eligible type when the cheapest is out of capacity", () => {
    expect(summary.runInstancesErrors.InsufficientInstanceCapacity).toBeGreaterThanOrEqual(1);
    const smallTypes = ["supervisor", "small-1", "small-2"].map((label) => tagged(uuidOf(label))[0]?.instanceType);
    expect(smallTypes).toContain("r5.large");
  });

  it("forgets every finished container: the queue table holds none of them at the end", () => {
    const left = [...containers.values()].filter((c) => entries.has(c.uuid)).map((c) => `${c.uuid} ${c.state}`);
    expect(left).toEqual([]);
  });

  it("measures queued → RunInstances latency for every launched container", () => {
    expect(summary.latency?.count).toBe(8);
    expect(summary.latency?.p99Ms).toBeGreaterThanOrEqual(summary.latency?.p50Ms ?? Number.NaN);
  });

  it("gives up on no stream record and sees no failed invocation", () => {
    expect(summary.streamFailures).toBe(0);
    expect(summary.functionErrors).toEqual({});
  });

  it("emits only the metrics the dashboard and alarms query, each with their dimensions and the cluster's id", () => {
    const emitted = Object.keys(emittedMetrics).flatMap((fn) =>
      emfMetrics(readFileSync(join(stateDir, "logs", `${fn}.log`), "utf8")),
    );
    const unknown = emitted.filter(
      (m) => !emittedMetrics[m.service]?.[m.name]?.some((d) => d.join() === m.dimensions.join()),
    );
    expect(unknown).toEqual([]);
    expect(new Set(emitted.map((m) => m.values.ClusterID))).toEqual(new Set(["zzzzz"]));
    // The run exercises every metric (each with its first, aggregate, dimension set) but the
    // failure count of an update, which is only emitted when one fails.
    const seen = new Set(emitted.map((m) => `${m.service}/${m.name}/${m.dimensions.join()}`));
    const unseen = Object.entries(emittedMetrics).flatMap(([fn, metrics]) =>
      Object.entries(metrics).flatMap(([name, sets]) =>
        seen.has(`${fn}/${name}/${sets[0]?.join()}`) ? [] : [`${fn}/${name}`],
      ),
    );
    expect(unseen).toEqual(["update-queue/UpdateFailures"]);
  });
});

describe("npm start says what is wrong when it cannot start", () => {
  const quiet = { write: () => true };

  it("asks for a build when a handler bundle is missing", async () => {
    const distDir = mkdtempSync(join(tmpdir(), "runner-no-dist-"));
    const run = runLocal({ distDir, workload, out: quiet, stateDir: join(repoRoot, ".local", "runner-test-nodist") });
    await expect(run).rejects.toBeInstanceOf(BuildMissingError);
    await expect(run).rejects.toThrow(/run npm run build/);
  });

  it("names the simulator whose port is taken", async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    try {
      const run = runLocal({
        workload,
        headless: true,
        out: quiet,
        dynamodbEndpoint: inject("dynamodbEndpoint"),
        ports: { arvados: port },
        stateDir: join(repoRoot, ".local", "runner-test-port"),
      });
      await expect(run).rejects.toBeInstanceOf(PortBusyError);
      await expect(run).rejects.toThrow(`Arvados simulator: port ${port} is busy`);
    } finally {
      server.close();
    }
  });
});
