import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import type { Container } from "../../lib/model/container.js";
import type { SimInstance } from "../../local/ec2-sim/index.js";
import { defaultConfigPath } from "../../local/runner/local-config.js";
import { repoRoot, runLocal } from "../../local/runner/run-local.js";
import type { RunSummary } from "../../local/runner/summary.js";
import { parseWorkload } from "../../local/workload.js";
import { SchedulingStatus } from "../../lib/scheduler/status.js";
import { ensureBuilt } from "../support/runner-build.js";

/*
 * `npm start` serves the dispatch API (the built dispatch-api bundle behind a Function URL on
 * loopback). While a workload plays on a cluster limited to two instances, the test asks it
 * what the Arvados controller asks for every Queued and Locked container, and, as an operator,
 * drains one instance and kills another.
 */

const workload = parseWorkload({
  runtimeSeconds: 4,
  containers: [
    { name: "first", priority: 900, ram: "1GiB", vcpus: 1 },
    { name: "second", priority: 800, ram: "1GiB", vcpus: 1, runtimeSeconds: 30 },
    { name: "third", priority: 700, ram: "1GiB", vcpus: 1 },
    { name: "fourth", priority: 600, ram: "1GiB", vcpus: 1 },
  ],
});

/** One answer the API gave for a container Arvados had Queued or Locked when asked. */
interface Answer {
  uuid: string;
  arvadosState: string;
  status: number;
  state?: string;
  scheduling?: string;
}

const stateDir = join(repoRoot, ".local", "runner-dispatch-api-test");
let summary: RunSummary;
let output = "";
let apiUrl = "";
let token = "";
const answers: Answer[] = [];
const actions: { action: string; instanceId: string; uuid: string; status: number; tag?: string }[] = [];
const containers = new Map<string, Container>();
let instances: SimInstance[] = [];
let apiLog = "";

/** Upstream's status texts as patterns (%v: anything). */
const upstreamTexts = Object.values(SchedulingStatus).map(
  (t) => new RegExp(`^${t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/%v/g, ".+")}$`),
);

beforeAll(async () => {
  await ensureBuilt();
  mkdirSync(stateDir, { recursive: true });
  // The default config, two instances at most, polled every second.
  const configPath = join(stateDir, "two-instances.yml");
  writeFileSync(
    configPath,
    readFileSync(defaultConfigPath, "utf8")
      .replace("MaxInstances: 64", "MaxInstances: 2")
      .replace("PollInterval: 10s", "PollInterval: 1s"),
  );
  let running = true;
  let poller: Promise<void> | undefined;
  summary = await runLocal({
    workload,
    configPath,
    tickMs: 2_000,
    bootDelayMs: 500,
    shutdownDelayMs: 200,
    timeoutMs: 150_000,
    headless: true,
    dynamodbEndpoint: inject("dynamodbEndpoint"),
    stateDir,
    out: { write: (text: string) => (output += text) },
    onReady: ({ services, dispatchApi, submitted }) => {
      apiUrl = dispatchApi.url;
      token = dispatchApi.managementToken;
      const sim = services.arvadosSim;
      const ec2 = services.ec2Sim;
      if (sim === undefined || ec2 === undefined) throw new Error("the simulators must run");
      const auth = { Authorization: `Bearer ${token}` };
      const instanceOf = (uuid: string) =>
        ec2.instances().find((i) => i.tags.ArvadosContainerUUID === uuid && i.state === "running");
      const act = async (action: string, uuid: string) => {
        const instance = instanceOf(uuid);
        if (instance === undefined) return false;
        const res = await fetch(
          new URL(`arvados/v1/dispatch/instances/${action}?instance_id=${instance.instanceId}&reason=test`, apiUrl),
          {
            method: "POST",
            headers: auth,
          },
        );
        actions.push({
          action,
          instanceId: instance.instanceId,
          uuid,
          status: res.status,
          tag: ec2.instance(instance.instanceId)?.tags.ArvadosIdleBehavior,
        });
        return true;
      };
      poller = (async () => {
        let drained = false;
        let killed = false;
        while (running) {
          for (const record of submitted().flatMap((uuid) => sim.getContainer(uuid) ?? [])) {
            if (record.state === "Queued" || record.state === "Locked") {
              // Exactly the controller's request (localdb/container_request.go).
              const res = await fetch(new URL(`/arvados/v1/dispatch/container?container_uuid=${record.uuid}`, apiUrl), {
                headers: auth,
              });
              const answer: Answer = { uuid: record.uuid, arvadosState: record.state, status: res.status };
              if (res.status === 200) {
                const ent = (await res.json()) as { container: { state: string }; scheduling_status: string };
                Object.assign(answer, { state: ent.container.state, scheduling: ent.scheduling_status });
              } else await res.text();
              answers.push(answer);
            } else if (record.state === "Running" && !drained && record.priority > 0n) {
              drained = await act("drain", record.uuid);
            } else if (
              record.state === "Running" &&
              drained &&
              !killed &&
              !actions.some((a) => a.uuid === record.uuid)
            ) {
              killed = await act("kill", record.uuid);
            }
          }
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      })();
    },
    inspect: async (services, s) => {
      running = false;
      await poller;
      for (const c of s.containers) {
        const record = services.arvadosSim?.getContainer(c.uuid);
        if (record !== undefined) containers.set(c.uuid, record);
      }
      instances = services.ec2Sim?.instances() ?? [];
      apiLog = readFileSync(join(stateDir, "logs", "dispatch-api.log"), "utf8");
    },
  });
}, 240_000);

describe("npm start serves the dispatch API on loopback", () => {
  it("prints `Dispatch API: <url>` and the ManagementToken it accepts", () => {
    expect(apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(output).toContain(`Dispatch API: ${apiUrl}`);
    expect(output).toContain(`ManagementToken: ${token}`);
    expect(token.length).toBeGreaterThanOrEqual(32);
  });

  it("finishes the workload with the operator's actions in it", () => {
    expect(summary.finished, output).toBe(true);
    expect(summary.functionErrors).toEqual({});
  });
});

describe("the API answers the controller for every Queued and Locked container with upstream's status", () => {
  it("answers every container the queue holds with 200 and its state; a 404 only before the queue first held it", () => {
    expect(answers.length).toBeGreaterThan(10);
    for (const uuid of new Set(answers.map((a) => a.uuid))) {
      const mine = answers.filter((a) => a.uuid === uuid);
      const first = mine.findIndex((a) => a.status === 200);
      expect(first, uuid).toBeGreaterThanOrEqual(0);
      expect(
        mine.slice(first).filter((a) => a.status !== 200),
        uuid,
      ).toEqual([]);
      expect(
        mine.slice(0, first).every((a) => a.status === 404),
        uuid,
      ).toBe(true);
    }
  });

  it("gives each waiting container one of upstream's texts, word for word", () => {
    const statuses = answers.filter(
      (a) => a.status === 200 && a.scheduling !== "" && (a.state === "Queued" || a.state === "Locked"),
    );
    expect(statuses.length).toBeGreaterThan(0);
    for (const a of statuses)
      expect(
        upstreamTexts.some((re) => re.test(a.scheduling ?? "")),
        a.scheduling,
      ).toBe(true);
    for (const uuid of containers.keys())
      expect(
        statuses.some((a) => a.uuid === uuid),
        uuid,
      ).toBe(true);
  });

  it("says what upstream says at MaxInstances: the two beyond it wait 'at cloud account limits', in queue order", () => {
    const seen = new Set(answers.map((a) => a.scheduling));
    expect(seen).toContain(
      "Waiting in queue at position 1.  Cluster is at cloud account limits and cannot start any new instances right now.",
    );
    expect(seen).toContain(
      "Waiting in queue at position 2.  Cluster is at cloud account limits and cannot start any new instances right now.",
    );
    expect(
      [...seen].some(
        (s) =>
          s === "Container is allocated to an instance and preparing to run." ||
          /^Waiting for a \S+ instance to boot/.test(s ?? ""),
      ),
    ).toBe(true);
  });
});

describe("an operator drains and kills instances through it", () => {
  it("drain tags the instance; it finishes its container, which completes", () => {
    const drain = actions.find((a) => a.action === "drain");
    expect(drain).toMatchObject({ status: 200, tag: "drain" });
    expect(containers.get(drain?.uuid ?? "")?.state).toBe("Complete");
  });

  it("kill terminates the instance at once; cleanup then cancels the container it was running", () => {
    const kill = actions.find((a) => a.action === "kill");
    expect(kill?.status).toBe(200);
    const instance = instances.find((i) => i.instanceId === kill?.instanceId);
    expect(instance?.stateReason?.code).toBe("Client.UserInitiatedShutdown");
    expect(containers.get(kill?.uuid ?? "")?.state).toBe("Cancelled");
  });

  it("logs each action with its target and reason, never the token", () => {
    expect(apiLog).toContain('"message":"dispatch API action"');
    expect(apiLog).toContain("via management API: test");
    expect(apiLog.includes(token)).toBe(false);
  });
});
