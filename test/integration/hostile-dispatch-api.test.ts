import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runLaunchPass } from "../../lib/launch/launch-pass.js";
import { routes } from "../../lib/dispatch-api/routes.js";
import { type DispatchApiServer, dispatchApiServer, managementToken } from "../support/dispatch-api.js";
import { type DispatchHarness, dispatchHarness } from "../support/dispatch.js";

/*
 * Hostile input to the dispatch API, over HTTP as the Function URL receives it: no token or the
 * wrong one, container uuids and instance ids that are not, missing parameters, wrong methods,
 * odd paths, bodies past the limits. Each gets upstream's answer (or a documented, stricter
 * one), nothing is changed, no table key or EC2 call is made of a bad value, and no response
 * ever carries the token.
 */

let h: DispatchHarness;
let api: DispatchApiServer;
let uuid = "";
let instanceId = "";
const responses: string[] = [];

beforeAll(async () => {
  h = await dispatchHarness();
  api = await dispatchApiServer(h);
  const c = h.sim.addContainer({ state: "Queued", priority: 5, runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
  uuid = c.uuid;
  await h.refresh();
  await runLaunchPass(h.launchDeps(), () => 60_000);
  instanceId = (await h.store.get(uuid))?.launch?.instanceId ?? "";
  expect(instanceId).not.toBe("");
}, 60_000);
afterAll(async () => {
  await api.stop();
  await h.close();
});

/** A request; its status and body text, remembered for the token check at the end. */
async function send(method: string, path: string, options: Parameters<DispatchApiServer["call"]>[2] = {}) {
  const res = await api.call(method, path, { redirect: "manual", ...options });
  const body = await res.text();
  responses.push(body, JSON.stringify([...res.headers]));
  return { status: res.status, body, headers: res.headers };
}

/** What EC2 was asked to change, and the instance's tags: must stay as they are. */
function ec2Changes() {
  return h.ec2sim.requests().filter((r) => r.action === "CreateTags" || r.action === "TerminateInstances").length;
}

const everyRoute = routes.map((r) => [r.method, r.path.slice(1)] as const);

describe("without the ManagementToken nothing is answered: 401 without a token, 403 with another (upstream RequireLiteralToken)", () => {
  it.each(everyRoute)("%s %s", async (method, path) => {
    const before = ec2Changes();
    const query = `?instance_id=${instanceId}&container_uuid=${uuid}`;
    expect(await send(method, `${path}${query}`)).toMatchObject({ status: 401, body: "Unauthorized\n" });
    expect(await send(method, `${path}${query}`, { token: "v2/zzzzz-gj3su-000000000000000/wrong" })).toMatchObject({
      status: 403,
      body: "Forbidden\n",
    });
    expect(ec2Changes()).toBe(before);
  });

  it("refuses near misses: a prefix, an extension, another case, an empty bearer, the wrong scheme, a long token", async () => {
    const wrong = [
      { authorization: `Bearer ${managementToken.slice(0, -1)}` },
      { authorization: `Bearer ${managementToken}x` },
      { authorization: `Bearer ${managementToken.toUpperCase()}` },
      { authorization: `Bearer ${"x".repeat(8000)}` },
    ];
    for (const headers of wrong)
      expect((await send("GET", "arvados/v1/dispatch/containers", { headers })).status).toBe(403);
    const unread = [
      { authorization: "Bearer " },
      { authorization: `Token ${managementToken}` },
      { authorization: `bearer ${managementToken}` },
      { authorization: "" },
    ];
    for (const headers of unread)
      expect((await send("GET", "arvados/v1/dispatch/containers", { headers })).status).toBe(401);
  });

  it("refuses unknown paths and wrong methods the same way, before routing", async () => {
    expect((await send("GET", "nowhere")).status).toBe(401);
    expect((await send("DELETE", "arvados/v1/dispatch/instances")).status).toBe(401);
    expect((await send("GET", "nowhere", { token: "wrong" })).status).toBe(403);
  });

  it("accepts the token where upstream reads one: Bearer, OAuth2, a Basic password, api_token, the arvados_api_token cookie", async () => {
    const cookie = Buffer.from(managementToken).toString("base64url");
    const padded = cookie.padEnd(Math.ceil(cookie.length / 4) * 4, "=");
    const ways: Parameters<DispatchApiServer["call"]>[2][] = [
      { token: managementToken },
      { headers: { authorization: `OAuth2 ${managementToken}` } },
      { headers: { authorization: `Basic ${Buffer.from(`x:${managementToken}`).toString("base64")}` } },
      { headers: { cookie: `arvados_api_token=${padded}` } },
    ];
    for (const way of ways) expect((await send("GET", "arvados/v1/dispatch/instances", way)).status).toBe(200);
    expect(
      (await send("GET", `arvados/v1/dispatch/instances?api_token=${encodeURIComponent(managementToken)}`)).status,
    ).toBe(200);
  });
});

const notUuids = [
  "#queue",
  "#capacity",
  "#launch-pass",
  "zzzzz-dz642-",
  "ZZZZZ-DZ642-000000000000001",
  "zzzzz-j7d0g-000000000000001",
  "../../../etc/passwd",
  "zzzzz-dz642-000000000000001' OR '1'='1",
  `${"z".repeat(5)}-dz642-${"0".repeat(10_000)}`,
  "zzzzz-dz642-00000000000000\u00e9",
  "zzzzz-dz642-000000000000001\u0000",
];

describe("a container_uuid that is not a container uuid is 'not found': never a table key, never an error", () => {
  it.each(notUuids.map((u) => [JSON.stringify(u).slice(0, 60), u]))("GET container %s → 404", async (_name, bad) => {
    const res = await send("GET", `arvados/v1/dispatch/container?container_uuid=${encodeURIComponent(bad)}`, {
      token: managementToken,
    });
    expect(res).toMatchObject({ status: 404, body: '{"errors":["container not found"]}\n' });
  });

  it("POST containers/kill with any of them → 404, and nothing is terminated", async () => {
    const before = ec2Changes();
    for (const bad of notUuids) {
      const res = await send("POST", `arvados/v1/dispatch/containers/kill?container_uuid=${encodeURIComponent(bad)}`, {
        token: managementToken,
      });
      expect(res.status, bad.slice(0, 40)).toBe(404);
    }
    expect(ec2Changes()).toBe(before);
  });

  it("another cluster's container, well formed, is simply unknown here", async () => {
    expect(
      (
        await send("GET", "arvados/v1/dispatch/container?container_uuid=xyzzy-dz642-000000000000001", {
          token: managementToken,
        })
      ).status,
    ).toBe(404);
  });
});

describe("an instance_id that is not one of our instances is 'not found', and nothing is tagged or terminated", () => {
  it.each(["hold", "drain", "run", "kill"])("POST instances/%s", async (action) => {
    const notOurs = [
      "i-",
      "i-xyz",
      "sg-0123456789abcdef0",
      "i-0123456789abcdef0",
      `${instanceId} x`,
      `${instanceId.toUpperCase()}`,
      "i-".padEnd(10_000, "0"),
    ];
    const before = ec2Changes();
    for (const bad of notOurs) {
      const res = await send("POST", `arvados/v1/dispatch/instances/${action}?instance_id=${encodeURIComponent(bad)}`, {
        token: managementToken,
      });
      expect(res.status, bad.slice(0, 40)).toBe(404);
      expect(JSON.parse(res.body)).toEqual({
        errors: [action === "kill" ? "instance not found" : "requested instance does not exist"],
      });
    }
    expect(ec2Changes()).toBe(before);
    expect(h.ec2sim.instance(instanceId)?.tags.ArvadosIdleBehavior).toBe("run");
  });
});

describe("a missing parameter is 400 with upstream's message; an empty one counts as missing", () => {
  it.each([
    ["instances/hold", "instance_id"],
    ["instances/drain", "instance_id"],
    ["instances/run", "instance_id"],
    ["instances/kill", "instance_id"],
    ["containers/kill", "container_uuid"],
  ])("POST %s", async (path, param) => {
    for (const query of ["", `?${param}=`, `?${param}`, "?other=1"]) {
      const res = await send("POST", `arvados/v1/dispatch/${path}${query}`, { token: managementToken });
      expect({ status: res.status, body: JSON.parse(res.body) }).toEqual({
        status: 400,
        body: { errors: [`${param} parameter not provided`] },
      });
    }
  });

  it("GET container without container_uuid is 'not found' (upstream looks up the empty uuid)", async () => {
    expect((await send("GET", "arvados/v1/dispatch/container", { token: managementToken })).status).toBe(404);
  });
});

describe("wrong methods and odd paths get the router's answers", () => {
  it("a route's path with another method → 405 with Allow", async () => {
    for (const method of ["POST", "PUT", "DELETE", "PATCH", "HEAD"]) {
      const res = await send(method, "arvados/v1/dispatch/containers", { token: managementToken });
      expect([res.status, res.headers.get("allow")], method).toEqual([405, "GET, OPTIONS"]);
    }
    const res = await send("GET", "arvados/v1/dispatch/instances/kill", { token: managementToken });
    expect([res.status, res.headers.get("allow"), res.body]).toEqual([405, "OPTIONS, POST", "Method Not Allowed\n"]);
  });

  it("OPTIONS → 200 with Allow; a trailing slash → redirect; anything else → 404", async () => {
    const options = await send("OPTIONS", "arvados/v1/dispatch/instances/drain", { token: managementToken });
    expect([options.status, options.headers.get("allow")]).toEqual([200, "OPTIONS, POST"]);
    const slash = await send("GET", "arvados/v1/dispatch/containers/?x=1", { token: managementToken });
    expect([slash.status, slash.headers.get("location")]).toEqual([301, "/arvados/v1/dispatch/containers?x=1"]);
    for (const path of [
      "",
      "arvados/v1/dispatch",
      "arvados/v1/dispatch/containers/kill/x",
      "_health/ping",
      "metrics",
      "arvados/v1/dispatch/..%2Fcontainers",
    ]) {
      expect((await send("GET", path, { token: managementToken })).status, path).toBe(404);
    }
  });

  it("a path with broken percent-encoding → 400", async () => {
    expect((await send("GET", "arvados/v1/dispatch/%E0%A4%A", { token: managementToken })).status).toBe(400);
  });
});

describe("bodies past the limits are refused, unread", () => {
  const form = { "content-type": "application/x-www-form-urlencoded" };

  it('a form body over 64 KiB → 413 {"errors":["request body too large"]}, and nothing changes', async () => {
    const before = ec2Changes();
    const body = `instance_id=${instanceId}&reason=${"x".repeat(64 * 1024)}`;
    const res = await send("POST", "arvados/v1/dispatch/instances/kill", {
      token: managementToken,
      body,
      headers: form,
    });
    expect({ status: res.status, body: res.body }).toEqual({
      status: 413,
      body: '{"errors":["request body too large"]}\n',
    });
    expect(ec2Changes()).toBe(before);
  });

  it("a body over Lambda's 6 MB payload limit never reaches the function (413 from the URL)", async () => {
    const res = await send("POST", "arvados/v1/dispatch/instances/hold", {
      token: managementToken,
      body: Buffer.alloc(7 * 1024 * 1024, 0x61),
      headers: form,
    });
    expect(res.status).toBe(413);
  });

  it("a body that is not a form is ignored, as Go's ParseForm ignores it", async () => {
    const res = await send("POST", "arvados/v1/dispatch/instances/hold", {
      token: managementToken,
      body: Buffer.alloc(1024 * 1024, 0xff),
      headers: { "content-type": "application/octet-stream" },
    });
    expect(res.status).toBe(400);
  });
});

describe("no response carries the ManagementToken", () => {
  it("in any body or header of every response above", () => {
    expect(responses.length).toBeGreaterThan(50);
    for (const text of responses) {
      expect(text.includes(managementToken)).toBe(false);
      expect(text.includes(Buffer.from(managementToken).toString("base64"))).toBe(false);
    }
  });
});
