import { request } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ArvadosSimulator } from "../../local/arvados-sim/simulator.js";

let sim: ArvadosSimulator;

interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Record<string, unknown>;
}

/** One request with plain node:http, independent of our client. */
function raw(
  method: string,
  path: string,
  options: { token?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
    const req = request(`${sim.baseUrl}${path}`, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          json: () => JSON.parse(text) as Record<string, unknown>,
        });
      });
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

const form = { "Content-Type": "application/x-www-form-urlencoded" };
const enc = (params: Record<string, string>) => new URLSearchParams(params).toString();

beforeEach(async () => {
  sim = new ArvadosSimulator();
  await sim.start();
});

afterEach(async () => {
  await sim.stop();
});

describe("§1.11 the simulator decodes the wire format itself", () => {
  it("reads list parameters from the query string", async () => {
    const c = sim.addContainer({ priority: 4 });
    sim.addContainer({ priority: 0 });
    const query = enc({ filters: '[["priority",">","0"]]', select: '["uuid","priority"]', count: "none" });
    const reply = await raw("GET", `/arvados/v1/containers?${query}`, { token: sim.rootToken });
    expect(reply.status).toBe(200);
    expect(reply.json()).toEqual({
      kind: "arvados#containerList",
      etag: "",
      self_link: "",
      offset: 0,
      limit: 100,
      items: [{ kind: "arvados#container", uuid: c.uuid, priority: 4 }],
    });
  });
  it("treats a POST with X-Http-Method-Override: GET and a form body as a list", async () => {
    const c = sim.addContainer();
    const body = enc({ filters: JSON.stringify([["uuid", "in", [c.uuid]]]), select: '["uuid"]' });
    const reply = await raw("POST", "/arvados/v1/containers", {
      token: sim.rootToken,
      headers: { ...form, "X-Http-Method-Override": "GET" },
      body,
    });
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({
      kind: "arvados#containerList",
      items: [{ uuid: c.uuid }],
      items_available: 1,
    });
    expect(sim.stats().containers).toBe(1);
  });
  it("decodes container=<json> from a form body on PUT", async () => {
    const c = sim.addContainer();
    const reply = await raw("PUT", `/arvados/v1/containers/${c.uuid}`, {
      token: sim.rootToken,
      headers: form,
      body: enc({ container: '{"priority":3}' }),
    });
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ uuid: c.uuid, priority: 3 });
  });
  it("accepts a JSON body on PATCH", async () => {
    const c = sim.addContainer();
    const body = JSON.stringify({ container: { state: "Cancelled" } });
    const reply = await raw("PATCH", `/arvados/v1/containers/${c.uuid}`, {
      token: sim.rootToken,
      headers: { "Content-Type": "application/json" },
      body,
    });
    expect(reply.json()).toMatchObject({ state: "Cancelled", finished_at: expect.any(String) });
  });
  it("renders only uuid, state, priority, auth_uuid, locked_by_uuid and kind from lock", async () => {
    const c = sim.addContainer();
    const reply = await raw("POST", `/arvados/v1/containers/${c.uuid}/lock`, { token: sim.rootToken });
    const body = reply.json();
    expect(Object.keys(body).sort()).toEqual(["auth_uuid", "kind", "locked_by_uuid", "priority", "state", "uuid"]);
    expect(body.mounts).toBeUndefined();
    expect(body.command).toBeUndefined();
  });
});

describe("§5.7 errors: {errors:[msg (request id)], error_token} and X-Request-Id", () => {
  it("renders 404 'Path not found' for an unknown path", async () => {
    const reply = await raw("GET", "/arvados/v1/nothing", { token: sim.rootToken });
    const requestId = reply.headers["x-request-id"];
    expect(reply.status).toBe(404);
    expect(requestId).toMatch(/^req-[0-9a-z]{20}$/);
    expect(reply.json()).toEqual({
      errors: [`Path not found (${requestId})`],
      error_token: expect.stringMatching(/^\d+\+[0-9a-f]{8}$/),
    });
  });
  it("uses the request id the client sent", async () => {
    const reply = await raw("GET", "/arvados/v1/containers/zzzzz-dz642-zzzzzzzzzzzzzzz", {
      token: sim.rootToken,
      headers: { "X-Request-Id": "req-abcdefghij0123456789" },
    });
    expect(reply.headers["x-request-id"]).toBe("req-abcdefghij0123456789");
    expect(reply.json().errors).toEqual(["Path not found (req-abcdefghij0123456789)"]);
  });
  it("renders 422 for a bad filter", async () => {
    const reply = await raw("GET", `/arvados/v1/containers?${enc({ filters: '[["priority",">",1.5]]' })}`, {
      token: sim.rootToken,
    });
    expect(reply.status).toBe(422);
    expect(String((reply.json().errors as string[])[0])).toContain(
      "Invalid operand '1.5' for integer attribute 'priority'",
    );
  });
});

describe("tokens: v2 or bare secret; unknown or missing → 401", () => {
  it("accepts the v2 token and the bare secret", async () => {
    const secret = sim.rootToken.split("/")[2] ?? "";
    for (const token of [sim.rootToken, secret]) {
      const reply = await raw("GET", "/arvados/v1/api_client_authorizations/current", { token });
      expect(reply.json()).toMatchObject({ uuid: sim.rootTokenUuid });
    }
  });
  it("refuses a missing token, an unknown one and a v2 token with the wrong uuid", async () => {
    const secret = sim.rootToken.split("/")[2] ?? "";
    for (const token of [undefined, "nope", `v2/zzzzz-gj3su-zzzzzzzzzzzzzzz/${secret}`]) {
      const reply = await raw("GET", "/arvados/v1/containers", { token });
      expect(reply.status).toBe(401);
      expect(String((reply.json().errors as string[])[0])).toMatch(/^Not logged in/);
    }
  });
  it("shows a non-admin token only containers made visible to it", async () => {
    const user = sim.addToken({ admin: false });
    sim.addContainer();
    const shown = sim.addContainer({}, { visibleTo: [user.uuid] });
    const reply = await raw("GET", "/arvados/v1/containers", { token: user.token });
    expect((reply.json().items as { uuid: string }[]).map((i) => i.uuid)).toEqual([shown.uuid]);
    const update = await raw("PUT", `/arvados/v1/containers/${shown.uuid}`, {
      token: user.token,
      headers: form,
      body: enc({ container: '{"priority":2}' }),
    });
    expect(update.status).toBe(403);
  });
});

describe("test controls over HTTP under /_sim/", () => {
  const control = async (method: string, path: string, body?: unknown) => {
    const reply = await raw(method, `/_sim/${path}`, {
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: { "Content-Type": "application/json" },
    });
    return { status: reply.status, body: reply.json() as unknown };
  };
  it("adds tokens and containers, and drives a container through its life", async () => {
    const token = (await control("POST", "tokens", { admin: true })).body as { token: string; uuid: string };
    expect(token.token).toMatch(/^v2\/zzzzz-gj3su-[0-9a-z]{15}\/[0-9a-z]+$/);
    const added = (await control("POST", "containers", { fields: { priority: 2 } })).body as { uuid: string };
    await raw("POST", `/arvados/v1/containers/${added.uuid}/lock`, { token: token.token });
    expect((await control("POST", `containers/${added.uuid}/start`)).body).toMatchObject({
      state: "Running",
      locked_by_uuid: token.uuid,
    });
    expect(
      (await control("POST", `containers/${added.uuid}/finish`, { state: "Complete", exitCode: 3 })).body,
    ).toMatchObject({
      state: "Complete",
      exit_code: 3,
      locked_by_uuid: null,
    });
    expect((await control("POST", `containers/${added.uuid}/priority`, { priority: 0 })).body).toMatchObject({
      priority: 0,
    });
    expect((await control("GET", "stats")).body).toEqual({ containers: 1, byState: { Complete: 1 } });
    expect((await control("DELETE", `containers/${added.uuid}`)).status).toBe(200);
    expect((await control("GET", `containers/${added.uuid}`)).status).toBe(404);
  });
  it("rejects an impossible runtime transition with the API's 422", async () => {
    const added = (await control("POST", "containers", {})).body as { uuid: string };
    const reply = await control("POST", `containers/${added.uuid}/finish`, { state: "Complete" });
    expect(reply.status).toBe(422);
    expect((reply.body as { errors: string[] }).errors).toContain("State cannot change from Queued to Complete");
  });
  it("injects faults, sets short pages and exposes the request log", async () => {
    await control("POST", "faults", {
      route: "GET /arvados/v1/containers",
      count: 1,
      effect: { kind: "status", status: 503 },
    });
    expect((await raw("GET", "/arvados/v1/containers", { token: sim.rootToken })).status).toBe(503);
    expect((await raw("GET", "/arvados/v1/containers", { token: sim.rootToken })).status).toBe(200);
    for (let i = 0; i < 3; i++) await control("POST", "containers", {});
    await control("PUT", "settings", { shortPage: 1 });
    const page = await raw("GET", "/arvados/v1/containers", { token: sim.rootToken });
    expect(page.json()).toMatchObject({ limit: 1, items_available: 3 });
    const log = (await control("GET", "requests")).body as { status: number; fault?: string; tokenUuid: string }[];
    expect(log.map((e) => e.status)).toEqual([503, 200, 200]);
    expect(log[0]).toMatchObject({ fault: "status 503", tokenUuid: sim.rootTokenUuid });
    expect((await control("POST", "faults", { route: "x", effect: { kind: "bogus" } })).status).toBe(400);
  });
});

describe("§5.6 int64 priorities on the wire: the exact digits, both ways", () => {
  /** Two containers whose priorities (about 5.6e17) differ by 1: one double for both. */
  const twoApart = () => {
    const high = sim.addContainer({}, { request: { priority: 500, createdAtMs: 1796626951123 } });
    const low = sim.addContainer({}, { request: { priority: 500, createdAtMs: 1796626951124 } });
    return { high, low };
  };
  it("writes each priority as its exact digits in list, get and lock replies", async () => {
    const { high, low } = twoApart();
    expect(high.priority).toBe(562948156794360877n);
    const listed = await raw(
      "GET",
      `/arvados/v1/containers?${enc({ order: "priority desc", select: '["uuid","priority"]' })}`,
      { token: sim.rootToken },
    );
    expect(listed.text).toContain(`{"kind":"arvados#container","uuid":"${high.uuid}","priority":562948156794360877}`);
    expect(listed.text).toContain(`{"kind":"arvados#container","uuid":"${low.uuid}","priority":562948156794360876}`);
    expect(listed.text.indexOf(high.uuid)).toBeLessThan(listed.text.indexOf(low.uuid));
    expect((await raw("GET", `/arvados/v1/containers/${low.uuid}`, { token: sim.rootToken })).text).toContain(
      '"priority":562948156794360876,',
    );
    expect((await raw("POST", `/arvados/v1/containers/${high.uuid}/lock`, { token: sim.rootToken })).text).toContain(
      '"priority":562948156794360877,',
    );
  });
  it("filters on an operand past 2^53 exactly, as a string and as a JSON integer", async () => {
    const { high, low } = twoApart();
    for (const operand of ['"562948156794360876"', "562948156794360876"]) {
      const reply = await raw(
        "GET",
        `/arvados/v1/containers?${enc({ filters: `[["priority",">",${operand}]]`, select: '["uuid"]' })}`,
        { token: sim.rootToken },
      );
      expect((reply.json().items as { uuid: string }[]).map((i) => i.uuid)).toEqual([high.uuid]);
    }
    const eq = await raw(
      "GET",
      `/arvados/v1/containers?${enc({ filters: '[["priority","=",562948156794360876]]', select: '["uuid"]' })}`,
      { token: sim.rootToken },
    );
    expect((eq.json().items as { uuid: string }[]).map((i) => i.uuid)).toEqual([low.uuid]);
  });
  it("reads an admin's update from a form body and from a JSON body exactly", async () => {
    const c = sim.addContainer();
    const form1 = await raw("PUT", `/arvados/v1/containers/${c.uuid}`, {
      token: sim.rootToken,
      headers: form,
      body: enc({ container: '{"priority":9223372036854775807}' }),
    });
    expect(form1.text).toContain('"priority":9223372036854775807,');
    const json = JSON.stringify({ container: { priority: 1 } }).replace(
      '"priority":1',
      '"priority":562949953421311999',
    );
    const viaJson = await raw("PATCH", `/arvados/v1/containers/${c.uuid}`, {
      token: sim.rootToken,
      headers: { "Content-Type": "application/json" },
      body: json,
    });
    expect(viaJson.text).toContain('"priority":562949953421311999,');
    expect(sim.getContainer(c.uuid)?.priority).toBe(562949953421311999n);
  });
  it("sets priority through /_sim/ from a JSON integer or a decimal string, exactly", async () => {
    const c = sim.addContainer();
    const post = (body: string) =>
      raw("POST", `/_sim/containers/${c.uuid}/priority`, { headers: { "Content-Type": "application/json" }, body });
    expect((await post('{"priority":562949953421311999}')).text).toContain('"priority":562949953421311999,');
    expect((await post('{"priority":"9223372036854775807"}')).text).toContain('"priority":9223372036854775807,');
    expect((await post('{"priority":1.5}')).status).toBe(400);
    expect((await post('{"priority":"-1"}')).status).toBe(400);
    expect(sim.getContainer(c.uuid)?.priority).toBe(9223372036854775807n);
  });
  it("adds containers through /_sim/ for a request or for a requesting container", async () => {
    const post = (body: unknown) =>
      raw("POST", "/_sim/containers", { headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const parent = (
      await post({ fields: { state: "Running" }, request: { priority: 600, createdAtMs: 1796626951123 } })
    ).json() as { uuid: string };
    expect(sim.getContainer(parent.uuid)?.priority).toBe(600n * 2n ** 50n - 1796626951123n);
    const child = (await post({ requestingContainerUuid: parent.uuid })).json() as { uuid: string };
    expect(sim.getContainer(child.uuid)?.priority).toBe(600n * 2n ** 50n - 1796626951123n);
    expect((await post({ request: { priority: 1001 } })).status).toBe(400);
  });
});

describe("§5.2 timestamps: RFC 3339 UTC, microseconds padded to nine digits", () => {
  it("renders created_at and modified_at as the API server's %N", async () => {
    const c = sim.addContainer();
    const reply = await raw("GET", `/arvados/v1/containers/${c.uuid}`, { token: sim.rootToken });
    const body = reply.json();
    for (const field of ["created_at", "modified_at"])
      expect(body[field]).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}000Z$/);
  });
});

describe("§5.2 large records: int64 sizes and hundreds of mounts", () => {
  const attrs = { command: ["true"], container_image: "d41d8cd98f00b204e9800998ecf8427e+0", output_path: "/out" };
  it("accepts ram, keep_cache_ram and keep_cache_disk of 2^63 − 1 bytes", async () => {
    const container = JSON.stringify({
      ...attrs,
      runtime_constraints: { vcpus: 1, ram: 1, keep_cache_ram: 2, keep_cache_disk: 3 },
    })
      .replace('"ram":1', '"ram":9223372036854775807')
      .replace('"keep_cache_ram":2', '"keep_cache_ram":9223372036854775807')
      .replace('"keep_cache_disk":3', '"keep_cache_disk":9223372036854775807');
    const reply = await raw("POST", "/arvados/v1/containers", {
      token: sim.rootToken,
      headers: form,
      body: enc({ container }),
    });
    expect(reply.status).toBe(200);
    // Sizes stay JavaScript numbers: past 2^53 bytes they are rounded, never refused.
    expect(reply.json().runtime_constraints).toMatchObject({
      ram: 2 ** 63,
      keep_cache_ram: 2 ** 63,
      keep_cache_disk: 2 ** 63,
    });
  });
  it("stores and renders a mounts map of 500 entries", async () => {
    const mounts: Record<string, unknown> = {};
    for (let i = 0; i < 500; i++)
      mounts[`/keep/input-${i}`] = {
        kind: "collection",
        portable_data_hash: `${i.toString(16).padStart(32, "0")}+${i}`,
        capacity: 2 ** 40 + i,
      };
    mounts["/tmp"] = { kind: "tmp", capacity: 2 ** 36 };
    const created = await raw("POST", "/arvados/v1/containers", {
      token: sim.rootToken,
      headers: form,
      body: enc({ container: JSON.stringify({ ...attrs, mounts }) }),
    });
    expect(created.status).toBe(200);
    const uuid = String(created.json().uuid);
    const got = await raw("GET", `/arvados/v1/containers/${uuid}?${enc({ select: '["uuid","mounts"]' })}`, {
      token: sim.rootToken,
    });
    expect(got.json().mounts).toEqual(mounts);
    const listed = await raw("POST", "/arvados/v1/containers", {
      token: sim.rootToken,
      headers: { ...form, "X-Http-Method-Override": "GET" },
      body: enc({ filters: JSON.stringify([["uuid", "in", [uuid]]]), select: '["uuid","mounts"]' }),
    });
    expect(Object.keys((listed.json().items as { mounts: object }[])[0]?.mounts ?? {})).toHaveLength(501);
  });
});
