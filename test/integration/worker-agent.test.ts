import { statSync } from "node:fs";
import { join } from "node:path";
import { CreateTagsCommand, DeleteTagsCommand } from "@aws-sdk/client-ec2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildOrderTagsInput, buildUnassignTagsInput, type ChannelOrder } from "../../lib/cloud/worker-channel.js";
import { containerUuid } from "../support/fixtures.js";
import { AgentWorld, agentTestToken } from "../support/worker-agent-harness.js";

const world = new AgentWorld();
beforeAll(() => world.start());
afterAll(() => world.stop());

const [c1, c2, c3] = [containerUuid(1), containerUuid(2), containerUuid(3)];

async function order(instanceId: string, ...orders: ChannelOrder[]): Promise<void> {
  await world.ec2.send(new CreateTagsCommand(buildOrderTagsInput("Arvados", instanceId, orders)));
}

describe("the agent starts the containers user data assigns to its ami-launch-index, once (§4.1 crunch-run protocol)", () => {
  it("runs <CrunchRunCommand> --detach --stdin-config <runner args> -- <uuid> for its own index only", async () => {
    const run = await world.runAgent({
      args: { crunchRunArgs: ["--cgroup-parent-subsystem=cpuset"] },
      assignments: [
        [
          { containerUuid: c1, attempt: 1 },
          { containerUuid: c2, attempt: 1 },
        ],
        [{ containerUuid: c3, attempt: 1 }],
      ],
    });
    await run.until(() => run.running().length === 2, "two containers running");
    await new Promise((r) => setTimeout(r, 400));
    expect(run.starts()).toEqual([
      `--detach --stdin-config --runtime-engine=docker --cgroup-parent-subsystem=cpuset -- ${c1}`,
      `--detach --stdin-config --runtime-engine=docker --cgroup-parent-subsystem=cpuset -- ${c2}`,
    ]);
    run.kill();
  });

  it("the second instance of a MaxCount 2 launch starts the containers of launch index 1", async () => {
    const run = await world.runAgent({
      assignments: [
        [{ containerUuid: c1, attempt: 1 }],
        [
          { containerUuid: c2, attempt: 3 },
          { containerUuid: c3, attempt: 3 },
        ],
      ],
      launch: { MaxCount: 2 },
      runIndex: 1,
    });
    await run.until(() => run.running().length === 2, "two containers running");
    expect(run.running()).toEqual([c2, c3]);
    expect(run.stderr).toContain("worker agent started: launch index 1");
    run.kill();
  });

  it("hands crunch-run §4.1's stdin JSON: token, API host, InstanceType, GatewayAddress <private ip>:0", async () => {
    const run = await world.runAgent({
      assignments: [[{ containerUuid: c1, attempt: 1 }]],
      args: { spotCheck: true, apiHostInsecure: true },
    });
    await run.until(() => run.stdinOf(c1) !== undefined, "crunch-run started");
    const privateIp = world.sim.instance(run.instanceId)?.privateIp;
    expect(JSON.parse(run.stdinOf(c1) ?? "")).toEqual({
      Env: {
        ARVADOS_API_HOST: "zzzzz.example.org",
        ARVADOS_API_HOST_INSECURE: "1",
        InstanceType: '{"Name":"m5large","ProviderType":"m5.large","VCPUs":2}',
        GatewayAddress: `${privateIp}:0`,
        ARVADOS_API_TOKEN: agentTestToken,
      },
      EC2SpotCheck: true,
    });
    run.kill();
  });

  it("does not start a container again after it ends, however often it reads the same order", async () => {
    const run = await world.runAgent({
      assignments: [[{ containerUuid: c1, attempt: 1 }]],
      args: { timeoutIdleSeconds: 30 },
    });
    await run.until(() => run.running().length === 1, "container running");
    run.finish(c1);
    await run.until(() => run.calls().filter((c) => c === "--list").length > 10, "ten polls after it ended");
    expect(run.starts()).toHaveLength(1);
    run.kill();
  });
});

describe("tags assign later containers and kill them: key <prefix>Container:<uuid>, value run:<attempt> | kill:<attempt>", () => {
  it("starts a container assigned by tag, once per attempt, and again for a new attempt", async () => {
    const run = await world.runAgent({ args: { timeoutIdleSeconds: 30 } });
    await run.until(() => run.calls().includes("--list"), "first poll");
    await order(run.instanceId, { containerUuid: c2, attempt: 1, action: "run" });
    await run.until(() => run.running().includes(c2), "tag-assigned container running");
    run.finish(c2);
    await run.until(() => run.calls().filter((c) => c === "--list").length > 15, "polls after it ended");
    expect(run.starts()).toHaveLength(1);
    await order(run.instanceId, { containerUuid: c2, attempt: 2, action: "run" });
    await run.until(() => run.starts().length === 2, "second attempt started");
    run.kill();
  });

  it("kills a running container with crunch-run --kill 15 -- <uuid>, and leaves its neighbour alone", async () => {
    const run = await world.runAgent({
      assignments: [
        [
          { containerUuid: c1, attempt: 1 },
          { containerUuid: c2, attempt: 1 },
        ],
      ],
      args: { timeoutIdleSeconds: 30 },
    });
    await run.until(() => run.running().length === 2, "two containers running");
    await order(run.instanceId, { containerUuid: c1, attempt: 1, action: "kill" });
    await run.until(() => !run.running().includes(c1), "killed container gone");
    expect(run.calls()).toContain(`--kill 15 -- ${c1}`);
    expect(run.kills()).toEqual([c1]);
    expect(run.running()).toEqual([c2]);
    run.kill();
  });

  it("never starts a user data container that a kill tag reached first", async () => {
    const userDataRun = await world.runAgent({
      assignments: [[{ containerUuid: c3, attempt: 4 }]],
      launch: {
        TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: `ArvadosContainer:${c3}`, Value: "kill:4" }] }],
      },
    });
    await userDataRun.until(() => userDataRun.poweredOff(), "power-off when idle");
    expect(userDataRun.starts()).toEqual([]);
  });

  it("stops signalling after TimeoutTERM, and the unkillable process no longer keeps the worker busy", async () => {
    const run = await world.runAgent({
      assignments: [[{ containerUuid: c1, attempt: 1 }]],
      args: { timeoutTermSeconds: 2, timeoutIdleSeconds: 1 },
    });
    await run.until(() => run.running().length === 1, "container running");
    run.mark(`unkillable-${c1}`);
    await order(run.instanceId, { containerUuid: c1, attempt: 1, action: "kill" });
    await run.until(() => run.poweredOff(), "power-off after giving up", 15_000);
    const kills = run.kills().length;
    expect(kills).toBeGreaterThan(1);
    expect(run.stderr).toContain(`killing ${c1}`);
  });

  it("ignores a removed order: DeleteTags with the value it set never stops a container", async () => {
    const run = await world.runAgent({ args: { timeoutIdleSeconds: 30 } });
    const o: ChannelOrder = { containerUuid: c2, attempt: 1, action: "run" };
    await order(run.instanceId, o);
    await run.until(() => run.running().includes(c2), "container running");
    await world.ec2.send(new DeleteTagsCommand(buildUnassignTagsInput("Arvados", run.instanceId, [o])));
    expect(world.sim.instance(run.instanceId)?.tags[`ArvadosContainer:${c2}`]).toBeUndefined();
    await run.until(() => run.calls().filter((c) => c === "--list").length > 10, "polls after removal");
    expect(run.running()).toEqual([c2]);
    expect(run.kills()).toEqual([]);
    run.kill();
  });
});

describe("the agent powers the instance off after TimeoutIdle with nothing running and nothing assigned", () => {
  it("powers off once the last container ended and TimeoutIdle passed, not before", async () => {
    const run = await world.runAgent({
      assignments: [[{ containerUuid: c1, attempt: 1 }]],
      args: { timeoutIdleSeconds: 2 },
    });
    await run.until(() => run.running().length === 1, "container running");
    await new Promise((r) => setTimeout(r, 2500));
    expect(run.poweredOff()).toBe(false);
    const ended = Date.now();
    run.finish(c1);
    await run.until(() => run.poweredOff(), "power-off");
    expect(Date.now() - ended).toBeGreaterThanOrEqual(1000);
    expect(await run.exited).toBe(0);
    expect(run.stderr).toMatch(/powering off: idle for \d+ s/);
  });

  it("holds with IdleBehavior hold (no new starts, never off), and drains (no new starts, off when idle) with drain", async () => {
    const run = await world.runAgent({ args: { timeoutIdleSeconds: 1 } });
    await world.ec2.send(
      new CreateTagsCommand({
        Resources: [run.instanceId],
        Tags: [
          { Key: "ArvadosIdleBehavior", Value: "hold" },
          { Key: `ArvadosContainer:${c2}`, Value: "run:1" },
        ],
      }),
    );
    await new Promise((r) => setTimeout(r, 2500));
    expect(run.poweredOff()).toBe(false);
    expect(run.starts()).toEqual([]);
    await world.ec2.send(
      new CreateTagsCommand({
        Resources: [run.instanceId],
        Tags: [
          { Key: "ArvadosIdleBehavior", Value: "drain" },
          { Key: `ArvadosContainer:${c1}`, Value: "run:1" },
        ],
      }),
    );
    await run.until(() => run.poweredOff(), "power-off when draining");
    expect(run.starts()).toEqual([]);
    expect(run.stderr).toContain("powering off: idle and draining");
  });

  it("starts a held order once IdleBehavior returns to run", async () => {
    const run = await world.runAgent({ args: { timeoutIdleSeconds: 30 } });
    await world.ec2.send(
      new CreateTagsCommand({
        Resources: [run.instanceId],
        Tags: [
          { Key: "ArvadosIdleBehavior", Value: "hold" },
          { Key: `ArvadosContainer:${c2}`, Value: "run:1" },
        ],
      }),
    );
    await run.until(() => run.calls().filter((c) => c === "--list").length > 5, "polls while held");
    expect(run.starts()).toEqual([]);
    await world.ec2.send(
      new CreateTagsCommand({ Resources: [run.instanceId], Tags: [{ Key: "ArvadosIdleBehavior", Value: "run" }] }),
    );
    await run.until(() => run.running().includes(c2), "started after hold");
    run.kill();
  });

  it("starts nothing new on a node crunch-run reports broken, and powers it off when idle", async () => {
    const run = await world.runAgent({
      assignments: [[{ containerUuid: c1, attempt: 1 }]],
      args: { timeoutIdleSeconds: 30 },
    });
    await run.until(() => run.running().length === 1, "container running");
    run.mark("broken");
    await order(run.instanceId, { containerUuid: c2, attempt: 1, action: "run" });
    await new Promise((r) => setTimeout(r, 500));
    expect(run.poweredOff()).toBe(false);
    run.finish(c1);
    await run.until(() => run.poweredOff(), "power-off of a broken node");
    expect(run.starts()).toHaveLength(1);
    expect(run.stderr).toContain("crunch-run reports the node broken");
  });

  it("powers off at TimeoutIdle when crunch-run could not start its container", async () => {
    const world2Run = await world.runAgent({ assignments: [[{ containerUuid: c1, attempt: 1 }]] });
    world2Run.mark("fail-start");
    await world2Run.until(() => world2Run.poweredOff(), "power-off");
    expect(world2Run.stderr).toContain(`crunch-run --detach failed for ${c1}`);
  });
});

describe("the token is read once from SSM on the instance and reaches crunch-run only on stdin", () => {
  it("reads the SecureString with decryption in the configured region", async () => {
    const run = await world.runAgent({ assignments: [[{ containerUuid: c1, attempt: 1 }]] });
    await run.until(() => run.awsArgs() !== undefined, "aws called");
    expect(run.awsArgs()?.split("\n").slice(0, -1)).toEqual([
      "ssm",
      "get-parameter",
      "--region",
      "us-east-1",
      "--name",
      "/arvados/zzzzz/dispatch-token",
      "--with-decryption",
      "--query",
      "Parameter.Value",
      "--output",
      "text",
    ]);
    run.kill();
  });

  it("keeps the token out of user data, tags, crunch-run's argv and environment, and the agent's log", async () => {
    const run = await world.runAgent({ assignments: [[{ containerUuid: c1, attempt: 1 }]] });
    await run.until(() => run.running().length === 1, "container running");
    run.finish(c1);
    await run.until(() => run.poweredOff(), "a whole life: start, idle, power-off");
    const secret = agentTestToken.split("/")[2] ?? "";
    expect(run.stdinOf(c1)).toContain(secret);
    for (const [what, text] of [
      ["user data", run.userData],
      ["tags", JSON.stringify(world.sim.instance(run.instanceId)?.tags)],
      ["crunch-run argv", run.calls().join("\n")],
      ["crunch-run env", run.envOf(c1) ?? ""],
      ["agent log", run.stderr],
    ]) {
      expect(text, what).not.toContain(secret);
    }
    expect(run.envOf(c1)).not.toContain("ARVADOS_API_TOKEN");
  });

  it("keeps its state directory root-only (mode 0700)", async () => {
    const run = await world.runAgent({ assignments: [[{ containerUuid: c1, attempt: 1 }]] });
    await run.until(() => run.running().length === 1, "container running");
    expect(statSync(join(run.dir, "state")).mode & 0o777).toBe(0o700);
    expect(statSync(join(run.dir, "secret")).mode & 0o777).toBe(0o600);
    run.kill();
  });

  it("powers off without running crunch-run when SSM cannot be read", async () => {
    const run = await world.runAgent({ assignments: [[{ containerUuid: c1, attempt: 1 }]], ssmToken: undefined });
    expect(await run.exited).toBe(1);
    expect(run.poweredOff()).toBe(true);
    expect(run.calls()).toEqual([]);
    expect(run.stderr).toContain("powering off: cannot read the API token from SSM");
  });

  it("powers off rather than start crunch-run with a token JSON could not carry as it is", async () => {
    const run = await world.runAgent({
      assignments: [[{ containerUuid: c1, attempt: 1 }]],
      ssmToken: 'v2/x/"},"Env":{"evil":"1',
    });
    expect(await run.exited).toBe(1);
    expect(run.calls()).toEqual([]);
  });
});

describe("the agent reads IMDS with IMDSv2 session tokens only", () => {
  it("powers off at boot when IMDS does not answer", async () => {
    const run = await world.runAgent({
      assignments: [[{ containerUuid: c1, attempt: 1 }]],
      launch: { MetadataOptions: { HttpEndpoint: "disabled", HttpTokens: "required" } },
    });
    expect(await run.exited).toBe(1);
    expect(run.stderr).toContain("powering off: cannot get an IMDSv2 token");
  });

  it("powers off at boot when its tags are not in IMDS, where every later order comes from", async () => {
    const run = await world.runAgent({
      assignments: [[{ containerUuid: c1, attempt: 1 }]],
      launch: {
        MetadataOptions: { HttpEndpoint: "enabled", HttpTokens: "required", InstanceMetadataTags: "disabled" },
      },
    });
    expect(await run.exited).toBe(1);
    expect(run.calls()).toEqual([]);
    expect(run.stderr).toContain("powering off: cannot read tags from IMDS (InstanceMetadataTags must be enabled)");
  });
});
