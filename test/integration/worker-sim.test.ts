import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateTagsCommand, type EC2Client, RunInstancesCommand } from "@aws-sdk/client-ec2";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildUserData } from "../../lib/cloud/user-data.js";
import { buildWorkerUserData } from "../../lib/cloud/worker-agent.js";
import { buildOrderTagsInput } from "../../lib/cloud/worker-channel.js";
import { ArvadosSimulator } from "../../local/arvados-sim/simulator.js";
import { CrunchRunSim, crunchRunSimBinDir } from "../../local/crunch-run-sim/host.js";
import { ImdsServer } from "../../local/ec2-sim/imds.js";
import { Ec2Simulator } from "../../local/ec2-sim/simulator.js";
import { WorkerAgents } from "../../local/worker-sim/agents.js";
import { localEc2Client } from "../support/ec2.js";
import { agentArgs } from "../support/worker-agent-harness.js";

const arvados = new ArvadosSimulator();
const ec2Sim = new Ec2Simulator();
const imds = new ImdsServer((id) => ec2Sim.instance(id));
/** Runtimes by container uuid; others run 30 s (longer than any test). */
const plans = new Map<string, { runtimeMs: number; exitCode: number }>();
const crunchRun = new CrunchRunSim({
  plan: (uuid) => plans.get(uuid),
  defaultRuntimeMs: 30_000,
  checkMs: 100,
  nodeAlive: (id) => ec2Sim.instance(id)?.state === "running",
});
let ec2: EC2Client;
let ec2Url: string;
let dir: string;
let agents: WorkerAgents;

beforeAll(async () => {
  await arvados.start();
  ec2Url = await ec2Sim.start();
  ec2 = localEc2Client(ec2Url);
  await imds.start();
  await crunchRun.start();
  dir = mkdtempSync(join(tmpdir(), "worker-sim-"));
  writeFileSync(join(dir, "token"), `${arvados.rootToken}\n`, { mode: 0o600 });
});

afterEach(() => {
  agents?.stop();
  // Instances of one test must not boot agents, or keep processes, in the next (reset reuses ids).
  for (const i of ec2Sim.instances()) crunchRun.dropNode(i.instanceId);
  ec2Sim.reset();
});

afterAll(async () => {
  ec2?.destroy();
  await crunchRun.stop();
  await imds.stop();
  await ec2Sim.stop();
  await arvados.stop();
  rmSync(dir, { recursive: true, force: true });
});

function startAgents(bootDelayMs = 200): WorkerAgents {
  agents = new WorkerAgents({
    ec2: ec2Sim,
    ec2Url,
    imds,
    crunchRun,
    tokenFile: join(dir, "token"),
    stateRoot: join(dir, "instances"),
    bootDelayMs,
    pollMs: 50,
  });
  agents.start();
  return agents;
}

/** A Locked container (locked by the root token, the local dispatcher's). */
function lockedContainer(): string {
  return arvados.addContainer({ state: "Locked" }).uuid;
}

async function launch(userData: string, maxCount = 1): Promise<string[]> {
  const out = await ec2.send(
    new RunInstancesCommand({
      ImageId: "ami-0123",
      InstanceType: "m5.large",
      MinCount: 1,
      MaxCount: maxCount,
      UserData: Buffer.from(userData).toString("base64"),
      InstanceInitiatedShutdownBehavior: "terminate",
      MetadataOptions: {
        HttpEndpoint: "enabled",
        HttpTokens: "required",
        HttpPutResponseHopLimit: 1,
        InstanceMetadataTags: "enabled",
      },
      TagSpecifications: [
        { ResourceType: "instance", Tags: [{ Key: "ArvadosInstanceSetID", Value: "zzzzz-gj3su-000000000000000" }] },
      ],
    }),
  );
  ec2Sim.tick();
  return (out.Instances ?? []).map((i) => i.InstanceId ?? "");
}

function workerUserData(assignments: string[][], over: Parameters<typeof agentArgs>[0] = {}): string {
  return buildWorkerUserData(
    agentArgs({
      apiHost: arvados.baseUrl,
      assignments: assignments.map((uuids) => uuids.map((containerUuid) => ({ containerUuid, attempt: 1 }))),
      ...over,
    }),
  );
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const stateOf = (uuid: string) => arvados.getContainer(uuid)?.state;

/** Runs the simulated crunch-run script as the agent would, on node `node` (asynchronously: its server is in this process). */
function crunchRunCli(
  node: string,
  args: string[],
  stdin = "",
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const proc = spawn(join(crunchRunSimBinDir, "crunch-run"), args, {
    env: { PATH: "/usr/bin:/bin", CRUNCH_RUN_SIM_URL: crunchRun.urlFor(node) },
  });
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (d: Buffer) => {
    stdout += d.toString("utf8");
  });
  proc.stderr.on("data", (d: Buffer) => {
    stderr += d.toString("utf8");
  });
  proc.stdin.end(stdin);
  return new Promise((resolve) => proc.once("close", (status) => resolve({ status, stdout, stderr })));
}

describe("the simulated crunch-run keeps upstream's command line and drives the container over the Arvados API", () => {
  const config = () =>
    JSON.stringify({ Env: { ARVADOS_API_HOST: arvados.baseUrl, ARVADOS_API_TOKEN: arvados.rootToken } });

  it("--detach prints {UUID, PID}, moves the container to Running, and --list shows it until it completes", async () => {
    const [node = ""] = await launch("#!/bin/sh\n");
    const uuid = lockedContainer();
    plans.set(uuid, { runtimeMs: 500, exitCode: 3 });
    const started = await crunchRunCli(
      node,
      ["--detach", "--stdin-config", "--runtime-engine=docker", "--", uuid],
      config(),
    );
    expect(started.status).toBe(0);
    expect(JSON.parse(started.stdout)).toMatchObject({ UUID: uuid, PID: expect.any(Number) });
    await until(() => stateOf(uuid) === "Running", "Running");
    expect((await crunchRunCli(node, ["--list"])).stdout).toBe(`${uuid}\n`);
    await until(() => stateOf(uuid) === "Complete", "Complete");
    expect(arvados.getContainer(uuid)?.exit_code).toBe(3);
    expect((await crunchRunCli(node, ["--list"])).stdout).toBe("");
  });

  it("refuses a second --detach of a container it already runs (upstream's lock file), with exit 1", async () => {
    const [node = ""] = await launch("#!/bin/sh\n");
    const uuid = lockedContainer();
    expect((await crunchRunCli(node, ["--detach", "--stdin-config", "--", uuid], config())).status).toBe(0);
    const again = await crunchRunCli(node, ["--detach", "--stdin-config", "--", uuid], config());
    expect(again.status).toBe(1);
    expect(again.stderr).toContain(`lock /var/lock/crunch-run-${uuid}.lock`);
  });

  it("--kill 15 cancels the container and waits for crunch-run to end", async () => {
    const [node = ""] = await launch("#!/bin/sh\n");
    const uuid = lockedContainer();
    await crunchRunCli(node, ["--detach", "--stdin-config", "--", uuid], config());
    await until(() => stateOf(uuid) === "Running", "Running");
    expect((await crunchRunCli(node, ["--kill", "15", "--", uuid])).status).toBe(0);
    expect(stateOf(uuid)).toBe("Cancelled");
    expect((await crunchRunCli(node, ["--list"])).stdout).toBe("");
  });

  it("cannot start a container the token did not lock, and does not list it", async () => {
    const [node = ""] = await launch("#!/bin/sh\n");
    const uuid = arvados.addContainer({ state: "Queued" }).uuid;
    const before = crunchRun.stats.failedToStart;
    await crunchRunCli(node, ["--detach", "--stdin-config", "--", uuid], config());
    await until(() => crunchRun.stats.failedToStart === before + 1, "failed start");
    expect(stateOf(uuid)).toBe("Queued");
    expect((await crunchRunCli(node, ["--list"])).stdout).toBe("");
  });
});

describe("locally, each worker instance runs the real agent against its IMDS, crunch-run and the Arvados simulator", () => {
  it("boots, runs its user data container to Complete, then powers off after TimeoutIdle and terminates", async () => {
    startAgents();
    const uuid = lockedContainer();
    plans.set(uuid, { runtimeMs: 300, exitCode: 0 });
    const [id = ""] = await launch(workerUserData([[uuid]]));
    await until(() => stateOf(uuid) === "Complete", "Complete");
    await until(() => ec2Sim.instance(id)?.state !== "running", "power-off");
    ec2Sim.tick();
    expect(ec2Sim.instance(id)?.state).toBe("terminated");
    expect(ec2Sim.instance(id)?.stateReason?.code).toBe("Client.InstanceInitiatedShutdown");
    expect(readFileSync(agents.logPath(id), "utf8")).toMatch(/powering off: idle for \d+ s/);
  });

  it("runs each instance of a batch launch with its own launch index, and a container assigned later by tag", async () => {
    startAgents();
    const [a, b, later] = [lockedContainer(), lockedContainer(), lockedContainer()];
    for (const uuid of [a, b, later]) plans.set(uuid, { runtimeMs: 4_000, exitCode: 0 });
    const ids = await launch(workerUserData([[a], [b]], { timeoutIdleSeconds: 30 }), 2);
    await until(() => stateOf(a) === "Running" && stateOf(b) === "Running", "both Running");
    expect(crunchRun.running(ids[0] ?? "")).toEqual([a]);
    expect(crunchRun.running(ids[1] ?? "")).toEqual([b]);
    await ec2.send(
      new CreateTagsCommand(
        buildOrderTagsInput("Arvados", ids[1] ?? "", [{ containerUuid: later, attempt: 1, action: "run" }]),
      ),
    );
    await until(() => stateOf(later) === "Running", "tag-assigned Running");
    expect(crunchRun.running(ids[1] ?? "").sort()).toEqual([b, later].sort());
    expect(crunchRun.running(ids[0] ?? "")).toEqual([a]);
    await until(() => [a, b, later].every((u) => stateOf(u) === "Complete"), "all Complete");
  });

  it("cancels a container through a kill order, leaving its neighbour running", async () => {
    startAgents();
    const [victim, neighbour] = [lockedContainer(), lockedContainer()];
    const [id = ""] = await launch(workerUserData([[victim, neighbour]], { timeoutIdleSeconds: 30 }));
    await until(() => stateOf(victim) === "Running" && stateOf(neighbour) === "Running", "both Running");
    await ec2.send(
      new CreateTagsCommand(
        buildOrderTagsInput("Arvados", id, [{ containerUuid: victim, attempt: 1, action: "kill" }]),
      ),
    );
    // Arvados hears of the cancel before the killed process is gone: wait for both.
    await until(
      () => stateOf(victim) === "Cancelled" && !crunchRun.running(id).includes(victim),
      "Cancelled and its crunch-run gone",
    );
    expect(stateOf(neighbour)).toBe("Running");
    expect(crunchRun.running(id)).toEqual([neighbour]);
  });

  it("loses the agent and its containers' processes, without a word to Arvados, when the instance dies", async () => {
    startAgents();
    const uuid = lockedContainer();
    const [id = ""] = await launch(workerUserData([[uuid]], { timeoutIdleSeconds: 30 }));
    await until(() => stateOf(uuid) === "Running", "Running");
    ec2Sim.killInstance(id);
    await until(() => agents.stats.stopped === 1, "agent stopped");
    expect(crunchRun.running(id)).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(stateOf(uuid)).toBe("Running");
  });

  it("waits the boot delay before the agent starts, and leaves instances without a worker's user data alone", async () => {
    startAgents(1_000);
    const uuid = lockedContainer();
    const [worker = ""] = await launch(workerUserData([[uuid]], { timeoutIdleSeconds: 30 }));
    const oneContainer = buildUserData({ ...agentArgs(), containerUuid: lockedContainer() });
    await launch(oneContainer);
    await new Promise((r) => setTimeout(r, 600));
    expect(agents.stats.started).toBe(0);
    await until(() => stateOf(uuid) === "Running", "Running after the boot delay");
    expect(agents.stats.started).toBe(1);
    expect(crunchRun.running(worker)).toEqual([uuid]);
  });
});
