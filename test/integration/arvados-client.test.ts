import { createServer } from "node:net";
import { inspect } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ArvadosClient } from "../../lib/arvados/client.js";
import {
  ArvadosApiError,
  ArvadosError,
  ArvadosNetworkError,
  ArvadosResponseError,
  ArvadosResponseTooLargeError,
} from "../../lib/arvados/errors.js";
import { type ClosableTransport, type Transport, createNodeTransport } from "../../lib/arvados/transport.js";
import { queueSelect } from "../../lib/arvados/container-schema.js";
import { ArvadosSimulator } from "../../local/arvados-sim/simulator.js";

let sim: ArvadosSimulator;
let client: ArvadosClient;
const clients: ArvadosClient[] = [];

/** A client of the running simulator; fast retries so tests stay quick. */
function clientFor(
  token: string,
  options: { timeoutMs?: number; attempts?: number; transport?: Transport } = {},
): ArvadosClient {
  const c = new ArvadosClient({
    apiHost: sim.baseUrl,
    token,
    timeoutMs: options.timeoutMs ?? 5000,
    retry: { attempts: options.attempts ?? 3, baseDelayMs: 1, maxDelayMs: 5 },
    transport: options.transport,
  });
  clients.push(c);
  return c;
}

function secretOf(token: string): string {
  return token.split("/")[2] ?? token;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to fail");
}

/** A loopback port with nothing listening. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

const requestsTo = (path: string) => sim.requests().filter((r) => r.path === path);

beforeEach(async () => {
  sim = new ArvadosSimulator();
  await sim.start();
  client = clientFor(sim.rootToken);
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await sim.stop();
});

describe("currentAuthorization returns this token's record without its secret", () => {
  it("returns the token uuid and drops api_token", async () => {
    const auth = await client.currentAuthorization();
    expect(auth.uuid).toBe(sim.rootTokenUuid);
    expect("api_token" in auth).toBe(false);
    expect(JSON.stringify(auth)).not.toContain(secretOf(sim.rootToken));
  });
});

describe("listContainers sends §1.6 queries in the §1.11 wire format", () => {
  it("sends the avail query in the query string and decodes the page", async () => {
    const low = sim.addContainer({ priority: 1 });
    const high = sim.addContainer({ priority: 9 });
    sim.addContainer({ priority: 0 });
    const page = await client.listContainers({
      filters: [
        ["state", "=", "Queued"],
        ["priority", ">", "0"],
      ],
      order: "priority desc",
      limit: 1000,
      offset: 0,
      count: "none",
      select: queueSelect,
    });
    expect(page.items.map((c) => c.uuid)).toEqual([high.uuid, low.uuid]);
    expect(page.items_available).toBeUndefined();
    const [logged] = requestsTo("/arvados/v1/containers");
    expect(logged).toMatchObject({
      method: "GET",
      rawMethod: "GET",
      contentType: "application/x-www-form-urlencoded",
      tokenUuid: sim.rootTokenUuid,
    });
    expect(logged?.params).toEqual({
      filters: '[["state","=","Queued"],["priority",">","0"]]',
      order: "priority desc",
      limit: "1000",
      count: "none",
      select: JSON.stringify(queueSelect),
    });
    expect(logged?.sources.body).toEqual([]);
  });
  it("sends a non-zero offset", async () => {
    await client.listContainers({ order: "uuid", offset: 5 });
    expect(requestsTo("/arvados/v1/containers")[0]?.params.offset).toBe("5");
  });
  it("turns a long list into POST with X-Http-Method-Override: GET and still gets the right page", async () => {
    const wanted = Array.from({ length: 40 }, () => sim.addContainer().uuid);
    const page = await client.listContainers({ filters: [["uuid", "in", wanted]], order: "uuid", limit: 1000 });
    expect(page.items.map((c) => c.uuid)).toEqual(wanted);
    const [logged] = requestsTo("/arvados/v1/containers");
    expect(logged).toMatchObject({ method: "GET", rawMethod: "POST" });
    expect(logged?.sources).toEqual({ query: [], body: ["filters", "limit", "order"] });
  });
});

describe("getContainer, updateContainer, lock and unlock", () => {
  it("gets a container, with select when given", async () => {
    const c = sim.addContainer({ mounts: { "/tmp": { kind: "tmp", capacity: 1000 } } });
    expect(await client.getContainer(c.uuid)).toMatchObject({ uuid: c.uuid, state: "Queued", priority: c.priority });
    expect(await client.getContainer(c.uuid, ["mounts"])).toEqual({
      kind: "arvados#container",
      mounts: { "/tmp": { kind: "tmp", capacity: 1000 } },
    });
  });
  it("updates with PUT and a container=<json> form body", async () => {
    const c = sim.addContainer();
    const updated = await client.updateContainer(c.uuid, { state: "Cancelled" }, ["uuid", "state"]);
    expect(updated).toEqual({ kind: "arvados#container", uuid: c.uuid, state: "Cancelled" });
    const [logged] = requestsTo(`/arvados/v1/containers/${c.uuid}`);
    expect(logged).toMatchObject({
      method: "PUT",
      rawMethod: "PUT",
      params: { container: '{"state":"Cancelled"}', select: '["uuid","state"]' },
    });
    expect(logged?.sources.body).toEqual(["container", "select"]);
  });
  it("locks and unlocks, returning state, priority and locked_by_uuid", async () => {
    const c = sim.addContainer({ priority: 3 });
    expect(await client.lockContainer(c.uuid)).toEqual({
      uuid: c.uuid,
      state: "Locked",
      priority: 3n,
      locked_by_uuid: sim.rootTokenUuid,
    });
    expect(await client.unlockContainer(c.uuid)).toEqual({
      uuid: c.uuid,
      state: "Queued",
      priority: 3n,
      locked_by_uuid: null,
    });
  });
});

describe("non-2xx replies are ArvadosApiError with the server's messages", () => {
  it("401 for an unknown token", async () => {
    const error = await rejection(clientFor("v2/zzzzz-gj3su-000000000000000/wrong").currentAuthorization());
    expect(error).toBeInstanceOf(ArvadosApiError);
    expect(error).toMatchObject({
      status: 401,
      isUnauthorized: true,
      method: "GET",
      path: "/arvados/v1/api_client_authorizations/current",
    });
    expect((error as ArvadosApiError).messages[0]).toMatch(/^Not logged in \(req-[0-9a-z]{20}\)$/);
  });
  it("403 'locked by a different token' when another dispatcher unlocks", async () => {
    const c = sim.addContainer();
    await client.lockContainer(c.uuid);
    const other = clientFor(sim.addToken({ admin: true }).token);
    const error = await rejection(other.unlockContainer(c.uuid));
    expect(error).toMatchObject({
      status: 403,
      isForbidden: true,
      method: "POST",
      path: `/arvados/v1/containers/${c.uuid}/unlock`,
    });
    expect((error as ArvadosApiError).messages[0]).toContain("locked by a different token");
  });
  it("404 for an unknown container", async () => {
    const error = await rejection(client.getContainer("zzzzz-dz642-zzzzzzzzzzzzzzz"));
    expect(error).toMatchObject({ status: 404, isNotFound: true });
    expect((error as ArvadosApiError).messages[0]).toContain("Path not found");
  });
  it("422 'cannot lock when Locked', with the request id the server logged", async () => {
    const c = sim.addContainer({ state: "Locked" });
    const error = await rejection(client.lockContainer(c.uuid));
    expect(error).toMatchObject({ status: 422, isUnprocessable: true });
    expect((error as ArvadosApiError).messages[0]).toContain("cannot lock when Locked");
    expect((error as ArvadosApiError).requestId).toBe(
      requestsTo(`/arvados/v1/containers/${c.uuid}/lock`)[0]?.requestId,
    );
  });
});

describe("reads are retried on 502/503/504 and network failures", () => {
  it("retries a list through two 503s and remembers the last 503", async () => {
    sim.injectFault({ route: "GET /arvados/v1/containers", count: 2, effect: { kind: "status", status: 503 } });
    expect(client.last503()).toBeUndefined();
    await client.listContainers({});
    expect(requestsTo("/arvados/v1/containers")).toHaveLength(3);
    expect(client.last503()).toBeInstanceOf(Date);
  });
  it("gives up after the configured attempts with the last status", async () => {
    sim.injectFault({ route: "/arvados/v1/containers/*", count: 5, effect: { kind: "status", status: 502 } });
    const c = sim.addContainer();
    const error = await rejection(client.getContainer(c.uuid));
    expect(error).toMatchObject({ status: 502, isServerError: true });
    expect(requestsTo(`/arvados/v1/containers/${c.uuid}`)).toHaveLength(3);
  });
  it("retries a get after the connection is reset", async () => {
    const c = sim.addContainer();
    sim.injectFault({ route: "GET /arvados/v1/containers/*", effect: { kind: "reset" } });
    expect((await client.getContainer(c.uuid)).uuid).toBe(c.uuid);
    expect(requestsTo(`/arvados/v1/containers/${c.uuid}`)).toHaveLength(2);
  });
  it("retries a read that timed out", async () => {
    const c = sim.addContainer();
    sim.injectFault({ route: "GET /arvados/v1/containers/*", effect: { kind: "delay", ms: 2000 } });
    const fast = clientFor(sim.rootToken, { timeoutMs: 200 });
    expect((await fast.getContainer(c.uuid)).uuid).toBe(c.uuid);
  });
  it("does not retry a 500", async () => {
    sim.injectFault({ route: "GET /arvados/v1/containers", count: 3, effect: { kind: "status", status: 500 } });
    expect(await rejection(client.listContainers({}))).toMatchObject({ status: 500 });
    expect(requestsTo("/arvados/v1/containers")).toHaveLength(1);
  });
});

describe("writes are never repeated once they may have reached the server", () => {
  it("does not retry a lock on 503", async () => {
    const c = sim.addContainer();
    sim.injectFault({ route: "POST /arvados/v1/containers/*/lock", count: 3, effect: { kind: "status", status: 503 } });
    expect(await rejection(client.lockContainer(c.uuid))).toMatchObject({ status: 503 });
    expect(requestsTo(`/arvados/v1/containers/${c.uuid}/lock`)).toHaveLength(1);
    expect(client.last503()).toBeInstanceOf(Date);
  });
  it("does not retry a lock whose connection was reset", async () => {
    const c = sim.addContainer();
    sim.injectFault({ route: "POST /arvados/v1/containers/*/lock", count: 3, effect: { kind: "reset" } });
    const error = await rejection(client.lockContainer(c.uuid));
    expect(error).toBeInstanceOf(ArvadosNetworkError);
    expect(error).toMatchObject({ timedOut: false, requestSent: true });
    expect(requestsTo(`/arvados/v1/containers/${c.uuid}/lock`)).toHaveLength(1);
  });
  it("does not retry an update that timed out", async () => {
    const c = sim.addContainer();
    sim.injectFault({ route: "PUT /arvados/v1/containers/*", count: 3, effect: { kind: "delay", ms: 2000 } });
    const fast = clientFor(sim.rootToken, { timeoutMs: 200 });
    const error = await rejection(fast.updateContainer(c.uuid, { priority: 5 }));
    expect(error).toMatchObject({ name: "ArvadosNetworkError", timedOut: true, requestSent: true });
    expect(requestsTo(`/arvados/v1/containers/${c.uuid}`)).toHaveLength(1);
  });
  it("retries a lock whose connection was refused, which the server never saw", async () => {
    const c = sim.addContainer();
    const dead = await deadPort();
    const real = createNodeTransport();
    let attempts = 0;
    const firstAttemptRefused: Transport = (request) => {
      attempts++;
      if (attempts > 1) return real.send(request);
      const url = new URL(request.url);
      url.port = String(dead);
      return real.send({ ...request, url });
    };
    const change = await clientFor(sim.rootToken, { transport: firstAttemptRefused }).lockContainer(c.uuid);
    real.close();
    expect(change.state).toBe("Locked");
    expect(attempts).toBe(2);
    expect(requestsTo(`/arvados/v1/containers/${c.uuid}/lock`)).toHaveLength(1);
  });
  it("reports a refused connection as requestSent false after the last attempt", async () => {
    const refused = new ArvadosClient({
      apiHost: `http://127.0.0.1:${await deadPort()}`,
      token: sim.rootToken,
      retry: { baseDelayMs: 1, maxDelayMs: 2 },
    });
    clients.push(refused);
    expect(await rejection(refused.lockContainer("zzzzz-dz642-000000000000001"))).toMatchObject({
      name: "ArvadosNetworkError",
      requestSent: false,
      timedOut: false,
      code: "ECONNREFUSED",
    });
  });
});

describe("malformed 2xx replies are ArvadosResponseError", () => {
  it("a body that is not JSON", async () => {
    sim.injectFault({ route: "GET /arvados/v1/containers", count: 3, effect: { kind: "malformed" } });
    const error = await rejection(client.listContainers({}));
    expect(error).toBeInstanceOf(ArvadosResponseError);
    expect(error).toMatchObject({ status: 200, reason: "body is not JSON" });
  });
  it("a truncated body", async () => {
    const c = sim.addContainer();
    sim.injectFault({ route: "GET /arvados/v1/containers/*", effect: { kind: "truncated" } });
    expect(await rejection(client.getContainer(c.uuid))).toBeInstanceOf(ArvadosResponseError);
  });
  it("a list whose items is not an array", async () => {
    sim.injectFault({ route: "GET /arvados/v1/containers", effect: { kind: "replace", body: '{"items":5}' } });
    expect(await rejection(client.listContainers({}))).toMatchObject({ name: "ArvadosResponseError", field: "items" });
  });
  it("a body that is JSON but not an object", async () => {
    sim.injectFault({
      route: "GET /arvados/v1/api_client_authorizations/current",
      effect: { kind: "replace", body: "[1,2]" },
    });
    expect(await rejection(client.currentAuthorization())).toMatchObject({ reason: "body is not a JSON object" });
  });
  it("a lock reply without locked_by_uuid", async () => {
    const c = sim.addContainer();
    const body = JSON.stringify({ uuid: c.uuid, state: "Locked", priority: 1 });
    sim.injectFault({ route: "POST /arvados/v1/containers/*/lock", effect: { kind: "replace", body } });
    expect(await rejection(client.lockContainer(c.uuid))).toMatchObject({
      name: "ArvadosResponseError",
      field: "locked_by_uuid",
    });
  });
  it("passes mounts through undecoded: the caller turns a bad mount into upstream's cancel (§1.8)", async () => {
    const c = sim.addContainer({ mounts: { "/tmp": { kind: 7 } } });
    expect(await client.getContainer(c.uuid, ["mounts"])).toMatchObject({ mounts: { "/tmp": { kind: 7 } } });
  });
});

describe("a reply past the body cap is ArvadosResponseTooLargeError, never retried", () => {
  const cap = 4096;
  const transports: ClosableTransport[] = [];
  afterEach(() => {
    for (const t of transports.splice(0)) t.close();
  });
  /** A client whose transport reads at most `cap` bytes of a body. */
  function cappedClient(): ArvadosClient {
    const transport = createNodeTransport({ maxBodyBytes: cap });
    transports.push(transport);
    return clientFor(sim.rootToken, { transport: transport.send });
  }
  const bigList = () => JSON.stringify({ items: [], padding: "x".repeat(cap * 4) });

  it("a read gets one attempt and the error names the method and path, not the token", async () => {
    sim.injectFault({ route: "GET /arvados/v1/containers", count: 3, effect: { kind: "replace", body: bigList() } });
    const error = await rejection(cappedClient().listContainers({ filters: [["state", "=", "Queued"]] }));
    expect(error).toBeInstanceOf(ArvadosResponseTooLargeError);
    expect(error).toBeInstanceOf(ArvadosError);
    expect(error).toMatchObject({ method: "GET", path: "/arvados/v1/containers", status: 200, limitBytes: cap });
    expect((error as Error).message).toBe(
      `arvados API GET /arvados/v1/containers: reply body larger than ${cap} bytes (HTTP 200); not read`,
    );
    expect(requestsTo("/arvados/v1/containers")).toHaveLength(1);
    const secret = secretOf(sim.rootToken);
    for (const text of [String(error), JSON.stringify(error), inspect(error, { depth: 5, showHidden: true })]) {
      expect(text).not.toContain(secret);
    }
  });

  it("a large error reply (a 503 body past the cap) is not retried either", async () => {
    const c = sim.addContainer();
    sim.injectFault({
      route: "GET /arvados/v1/containers/*",
      count: 3,
      effect: { kind: "replace", status: 503, body: bigList() },
    });
    const error = await rejection(cappedClient().getContainer(c.uuid));
    expect(error).toMatchObject({ name: "ArvadosResponseTooLargeError", status: 503 });
    expect(requestsTo(`/arvados/v1/containers/${c.uuid}`)).toHaveLength(1);
  });

  it("a body under the cap decodes as usual", async () => {
    sim.addContainer();
    expect((await cappedClient().listContainers({ limit: 1 })).items).toHaveLength(1);
  });
});

describe("the token never appears in errors or the request log", () => {
  it("keeps the secret out of every error's message, stack, JSON and inspection", async () => {
    const secret = secretOf(sim.rootToken);
    const c = sim.addContainer({ state: "Locked" });
    sim.injectFault({ route: "GET /arvados/v1/containers", effect: { kind: "malformed" } });
    const fast = clientFor(sim.rootToken, { timeoutMs: 100, attempts: 1 });
    sim.injectFault({ route: "GET /arvados/v1/containers/*", effect: { kind: "delay", ms: 1000 } });
    const errors = [
      await rejection(client.listContainers({})),
      await rejection(fast.getContainer(c.uuid)),
      await rejection(client.lockContainer(c.uuid)),
      await rejection(clientFor(sim.addToken({ admin: true }).token).unlockContainer(c.uuid)),
      await rejection(client.getContainer("zzzzz-dz642-zzzzzzzzzzzzzzz")),
      await rejection(clientFor(`v2/${sim.rootTokenUuid}/${secret}x`).currentAuthorization()),
    ];
    expect(errors.map((e) => (e as Error).name)).toEqual([
      "ArvadosResponseError",
      "ArvadosNetworkError",
      "ArvadosApiError",
      "ArvadosApiError",
      "ArvadosApiError",
      "ArvadosApiError",
    ]);
    for (const error of errors) {
      expect(error).toBeInstanceOf(ArvadosError);
      const e = error as Error;
      for (const text of [
        e.message,
        String(e.stack),
        String(e),
        JSON.stringify(e),
        inspect(e, { depth: 5, showHidden: true }),
      ]) {
        expect(text).not.toContain(secret);
      }
    }
    expect(JSON.stringify(sim.requests())).not.toContain(secret);
  });
});
