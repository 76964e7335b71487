import { afterEach, describe, expect, it } from "vitest";
import { SSMProvider } from "@aws-lambda-powertools/parameters/ssm";
import { runCleanupPass } from "../../lib/cleanup/cleanup-pass.js";
import { managementTokenFromEnv } from "../../lib/runtime/management-token.js";
import { runLaunchPass } from "../../lib/launch/launch-pass.js";
import { type DispatchApiServer, dispatchApiServer, managementToken } from "../support/dispatch-api.js";
import { type DispatchHarness, dispatchHarness } from "../support/dispatch.js";
import { SsmSim } from "../support/ssm-sim.js";

/*
 * The dispatch API over HTTP, as the Arvados controller and an operator use it, against the
 * queue table in DynamoDB Local, the Arvados simulator's containers and the EC2 simulator:
 * upstream's routes, JSON and status codes (lib/dispatchcloud/dispatcher.go).
 */

let h: DispatchHarness | undefined;
let api: DispatchApiServer | undefined;
afterEach(async () => {
  await api?.stop();
  await h?.close();
  api = undefined;
  h = undefined;
});

const plenty = () => 60_000;
const minute = 60_000;

async function setup(
  cloudVMs = "",
  ec2: Parameters<typeof dispatchHarness>[1] = {},
  clock: () => Date = () => new Date(),
) {
  const d = await dispatchHarness(cloudVMs, ec2, clock);
  h = d;
  const server = await dispatchApiServer(d);
  api = server;
  return { d, server };
}

function queued(d: DispatchHarness, n: number) {
  return Array.from({ length: n }, (_, i) =>
    d.sim.addContainer({ state: "Queued", priority: 10 + i, runtime_constraints: { ram: 2 ** 30, vcpus: 1 } }),
  );
}

/** The controller's view (localdb ContainerRequestContainerStatus): status code, state, scheduling status. */
async function controllerView(server: DispatchApiServer, uuid: string) {
  const res = await server.controllerGet(uuid);
  if (res.status !== 200) return { status: res.status };
  const ent = (await res.json()) as { container: { state: string }; scheduling_status: string };
  return { status: 200, state: ent.container.state, scheduling: ent.scheduling_status };
}

const booting = "Waiting for a small instance to boot and be ready to accept work.";
const preparing = "Container is allocated to an instance and preparing to run.";
const atLimits = (n: number) =>
  `Waiting in queue at position ${n}.  Cluster is at cloud account limits and cannot start any new instances right now.`;

describe("the controller asks why a container waits: GET /arvados/v1/dispatch/container?container_uuid=…", () => {
  it("answers each Queued and Locked container with its state and upstream's scheduling status", async () => {
    const { d, server } = await setup("MaxInstances: 2");
    const [low, mid, high, top] = queued(d, 4);
    await d.refresh();
    await runLaunchPass(d.launchDeps(), plenty);
    const views = await Promise.all([top, high, mid, low].map((c) => controllerView(server, c?.uuid ?? "")));
    expect(views).toEqual([
      { status: 200, state: "Locked", scheduling: booting },
      { status: 200, state: "Locked", scheduling: booting },
      { status: 200, state: "Queued", scheduling: atLimits(1) },
      { status: 200, state: "Queued", scheduling: atLimits(2) },
    ]);
    await d.refresh();
    await runLaunchPass(d.launchDeps(), plenty);
    expect(await controllerView(server, top?.uuid ?? "")).toEqual({
      status: 200,
      state: "Locked",
      scheduling: preparing,
    });
  });

  it("returns upstream's QueueEnt: the container as the queue holds it, its types, resources, first-seen time", async () => {
    const { d, server } = await setup();
    const [c] = queued(d, 1);
    await d.refresh();
    const body = (await (await server.controllerGet(c?.uuid ?? "")).json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual([
      "container",
      "instance_resources",
      "instance_types",
      "first_seen_at",
      "scheduling_status",
    ]);
    expect(body.container).toMatchObject({
      uuid: c?.uuid,
      state: "Queued",
      container_image: c?.container_image,
      lock_count: 0,
    });
    // Cheapest first, within MaximumPriceFactor (1.5) of the cheapest.
    expect((body.instance_types as { ProviderType: string }[]).map((t) => t.ProviderType)).toEqual([
      "m5.large",
      "m5.xlarge",
    ]);
    expect(body.first_seen_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  });

  it('answers 404 {"errors":["container not found"]} for a container it does not know: the controller tries the next URL', async () => {
    const { server } = await setup();
    const res = await server.controllerGet("zzzzz-dz642-000000000000999");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ errors: ["container not found"] });
  });

  it("gives a Running container no scheduling status", async () => {
    const { d, server } = await setup();
    const [c] = queued(d, 1);
    await d.refresh();
    await runLaunchPass(d.launchDeps(), plenty);
    d.sim.startContainer(c?.uuid ?? "");
    await d.queue.update();
    expect(await controllerView(server, c?.uuid ?? "")).toEqual({ status: 200, state: "Running", scheduling: "" });
  });
});

describe("GET /arvados/v1/dispatch/containers lists every entry, in scheduling order", () => {
  it("returns {items: [QueueEnt…]}: Locked before Queued, higher priority first", async () => {
    const { d, server } = await setup("MaxInstances: 1");
    const [low, high] = queued(d, 2);
    await d.refresh();
    await runLaunchPass(d.launchDeps(), plenty);
    const res = await server.call("GET", "arvados/v1/dispatch/containers", { token: managementToken });
    expect(res.status).toBe(200);
    const { items } = (await res.json()) as {
      items: { container: { uuid: string; state: string }; scheduling_status: string }[];
    };
    expect(items.map((e) => [e.container.uuid, e.container.state, e.scheduling_status])).toEqual([
      [high?.uuid, "Locked", booting],
      [low?.uuid, "Queued", atLimits(1)],
    ]);
  });
});

describe("GET /arvados/v1/dispatch/instances lists our instances as upstream's InstanceView", () => {
  it("shows each with its type, price, container, state and idle behavior", async () => {
    const { d, server } = await setup();
    const [c] = queued(d, 1);
    await d.refresh();
    await runLaunchPass(d.launchDeps(), plenty);
    const instanceId = (await d.store.get(c?.uuid ?? ""))?.launch?.instanceId;
    const { items } = (await (
      await server.call("GET", "arvados/v1/dispatch/instances", { token: managementToken })
    ).json()) as {
      items: Record<string, unknown>[];
    };
    expect(items).toEqual([
      expect.objectContaining({
        instance: instanceId,
        address: expect.stringMatching(/^10\./),
        price: 0.1,
        arvados_instance_type: "small",
        provider_instance_type: "m5.large",
        last_container_uuid: c?.uuid,
        running_container_uuids: [],
        worker_state: "booting",
        idle_behavior: "run",
      }),
    ]);
  });
});

describe("an operator holds, drains, runs and kills instances through the same paths the dispatcher uses", () => {
  async function launchedOne(d: DispatchHarness) {
    const [c] = queued(d, 1);
    await d.refresh();
    await runLaunchPass(d.launchDeps(), plenty);
    const instanceId = (await d.store.get(c?.uuid ?? ""))?.launch?.instanceId ?? "";
    return { uuid: c?.uuid ?? "", instanceId };
  }
  const idleBehaviorOf = (d: DispatchHarness, id: string) => d.ec2sim.instance(id)?.tags.ArvadosIdleBehavior;

  it("hold, drain and run set the IdleBehavior tag (query or form body) and answer 200 with no body", async () => {
    const { d, server } = await setup();
    const { instanceId } = await launchedOne(d);
    for (const behavior of ["hold", "drain", "run"] as const) {
      const res = await server.call("POST", `arvados/v1/dispatch/instances/${behavior}?instance_id=${instanceId}`, {
        token: managementToken,
      });
      expect({ status: res.status, body: await res.text() }).toEqual({ status: 200, body: "" });
      expect(idleBehaviorOf(d, instanceId)).toBe(behavior);
    }
    const form = await server.call("POST", "arvados/v1/dispatch/instances/hold", {
      token: managementToken,
      body: `instance_id=${instanceId}`,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(form.status).toBe(200);
    expect(idleBehaviorOf(d, instanceId)).toBe("hold");
    const listed = (await (
      await server.call("GET", "arvados/v1/dispatch/instances", { token: managementToken })
    ).json()) as {
      items: { idle_behavior: string }[];
    };
    expect(listed.items.map((i) => i.idle_behavior)).toEqual(["hold"]);
  });

  it("a held instance outlives its finished container; a drained booting one is terminated and its container requeued", async () => {
    const { d, server } = await setup("", { pendingMs: 24 * 3600_000 });
    const held = await launchedOne(d);
    await server.call("POST", `arvados/v1/dispatch/instances/hold?instance_id=${held.instanceId}`, {
      token: managementToken,
    });
    d.sim.startContainer(held.uuid);
    d.sim.finishContainer(held.uuid, "Complete");
    const drained = await launchedOne(d);
    await server.call("POST", `arvados/v1/dispatch/instances/drain?instance_id=${drained.instanceId}`, {
      token: managementToken,
    });
    await d.queue.update();
    const report = await runCleanupPass(d.cleanupDeps());
    expect(report).toMatchObject({ terminated: { drain: 1 }, requeued: { drain: 1 } });
    expect(report.held.map((i) => i.instanceId)).toEqual([held.instanceId]);
    expect(d.ec2sim.instance(held.instanceId)?.state).toBe("pending");
    expect(d.sim.getContainer(drained.uuid)?.state).toBe("Queued");
  });

  it("kill terminates the instance now; cleanup then cancels its Running container, as upstream's sync does", async () => {
    let skewMs = 0;
    const { d, server } = await setup("", {}, () => new Date(Date.now() + skewMs));
    const { uuid, instanceId } = await launchedOne(d);
    d.sim.startContainer(uuid);
    const res = await server.call("POST", `arvados/v1/dispatch/instances/kill?instance_id=${instanceId}&reason=stuck`, {
      token: managementToken,
    });
    expect(res.status).toBe(200);
    expect(["shutting-down", "terminated"]).toContain(d.ec2sim.instance(instanceId)?.state);
    // Once a poll newer than the instance's end has seen the container still Running.
    d.ec2sim.advance(minute);
    skewMs += 2 * minute;
    await d.queue.update();
    const report = await runCleanupPass(d.cleanupDeps());
    expect(report.cancelled).toEqual({ "not running on any instance": 1 });
    expect(d.sim.getContainer(uuid)?.state).toBe("Cancelled");
  });

  it("containers/kill terminates the container's instance; 404 for one no instance of ours runs", async () => {
    const { d, server } = await setup();
    const { uuid, instanceId } = await launchedOne(d);
    const res = await server.call("POST", `arvados/v1/dispatch/containers/kill?container_uuid=${uuid}&reason=test`, {
      token: managementToken,
    });
    expect(res.status).toBe(200);
    expect(["shutting-down", "terminated"]).toContain(d.ec2sim.instance(instanceId)?.state);
    d.ec2sim.advance(minute);
    const again = await server.call("POST", `arvados/v1/dispatch/containers/kill?container_uuid=${uuid}`, {
      token: managementToken,
    });
    expect({ status: again.status, body: await again.json() }).toEqual({
      status: 404,
      body: { errors: ["container not found"] },
    });
  });

  it("an instance not ours or gone: 404 with upstream's messages; no instance_id: 400", async () => {
    const { server } = await setup();
    const post = async (path: string) => {
      const res = await server.call("POST", `arvados/v1/dispatch/${path}`, { token: managementToken });
      return [res.status, await res.json()];
    };
    expect(await post("instances/hold?instance_id=i-0123456789abcdef0")).toEqual([
      404,
      { errors: ["requested instance does not exist"] },
    ]);
    expect(await post("instances/kill?instance_id=i-0123456789abcdef0")).toEqual([
      404,
      { errors: ["instance not found"] },
    ]);
    expect(await post("instances/drain")).toEqual([400, { errors: ["instance_id parameter not provided"] }]);
    expect(await post("instances/kill")).toEqual([400, { errors: ["instance_id parameter not provided"] }]);
    expect(await post("containers/kill")).toEqual([400, { errors: ["container_uuid parameter not provided"] }]);
  });
});

describe("the ManagementToken comes from SSM in AWS", () => {
  it("accepts the value of the SSM parameter DISPATCH_MANAGEMENT_TOKEN_PARAMETER names, and refuses everything when it is unset", async () => {
    const ssm = await new SsmSim().start();
    try {
      ssm.parameters.set("/arvados/zzzzz/management-token", managementToken);
      const provider = new SSMProvider({ awsSdkV3Client: ssm.client() });
      const d = await dispatchHarness();
      h = d;
      const fromSsm = managementTokenFromEnv(
        { DISPATCH_MANAGEMENT_TOKEN_PARAMETER: "/arvados/zzzzz/management-token" },
        provider,
      );
      api = await dispatchApiServer(d, { managementToken: fromSsm });
      expect((await api.call("GET", "arvados/v1/dispatch/containers", { token: managementToken })).status).toBe(200);
      expect((await api.call("GET", "arvados/v1/dispatch/containers", { token: "v2/x/y" })).status).toBe(403);
      await api.stop();
      api = await dispatchApiServer(d, { managementToken: managementTokenFromEnv({}) });
      const unset = await api.call("GET", "arvados/v1/dispatch/containers", { token: managementToken });
      expect({ status: unset.status, body: await unset.text() }).toEqual({
        status: 403,
        body: "Management API authentication is not configured\n",
      });
    } finally {
      await ssm.stop();
    }
  });
});
