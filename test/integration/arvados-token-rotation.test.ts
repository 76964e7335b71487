import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SSMProvider } from "@aws-lambda-powertools/parameters/ssm";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ArvadosClient } from "../../lib/arvados/client.js";
import { ArvadosApiError } from "../../lib/arvados/errors.js";
import { ssmTokenSource, type TokenSource } from "../../lib/arvados/token-source.js";
import { SsmSim } from "../support/ssm-sim.js";

const oldToken = "v2/zzzzz-gj3su-00000000000old1/oldsecretoldsecretoldsecretoldsecretoldsecret01";
const newToken = "v2/zzzzz-gj3su-00000000000new2/newsecretnewsecretnewsecretnewsecretnewsecret02";

/**
 * An API server that accepts only the tokens in `accepted` and answers
 * api_client_authorizations/current with the token's uuid, as Arvados does; 401 otherwise.
 */
class RotatingApi {
  readonly accepted = new Set<string>();
  readonly seen: string[] = [];
  #server: Server | undefined;
  url = "";

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
      this.seen.push(token);
      res.setHeader("Content-Type", "application/json");
      if (!this.accepted.has(token)) {
        res.statusCode = 401;
        res.end(JSON.stringify({ errors: [`Not logged in (token ${token} is not valid)`] }));
        return;
      }
      res.end(JSON.stringify({ uuid: token.split("/")[1], api_token: token }));
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()));
  }
}

/** A source that caches one value until refreshed, like Powertools' cache within maxAge. */
class CachedSource implements TokenSource {
  refreshes = 0;
  constructor(
    public cached: string,
    public stored: string,
  ) {}
  async token(): Promise<string> {
    return this.cached;
  }
  async refresh(): Promise<string> {
    this.refreshes++;
    this.cached = this.stored;
    return this.cached;
  }
}

let api: RotatingApi;
beforeEach(async () => {
  api = new RotatingApi();
  await api.start();
});
afterEach(async () => {
  await api.stop();
});

const clientWith = (token: TokenSource) => new ArvadosClient({ apiHost: api.url, token, retry: { attempts: 1 } });

describe("a rotated token is used without a redeploy (issue #15.5)", () => {
  it("after a 401 reads the source again once and retries with the new token", async () => {
    api.accepted.add(newToken);
    const source = new CachedSource(oldToken, newToken);
    const auth = await clientWith(source).currentAuthorization();
    expect(auth.uuid).toBe("zzzzz-gj3su-00000000000new2");
    expect(api.seen).toEqual([oldToken, newToken]);
    expect(source.refreshes).toBe(1);
  });

  it("asks for the token before each request, so a value the cache turned over is used at once", async () => {
    api.accepted.add(oldToken).add(newToken);
    const source = new CachedSource(oldToken, newToken);
    const client = clientWith(source);
    await client.currentAuthorization();
    source.cached = newToken;
    expect((await client.currentAuthorization()).uuid).toBe("zzzzz-gj3su-00000000000new2");
    expect(api.seen).toEqual([oldToken, newToken]);
    expect(source.refreshes).toBe(0);
  });

  it("refreshes once: when the source has no other token the 401 stands, redacted, and nothing is resent", async () => {
    const source = new CachedSource(oldToken, oldToken);
    const error = await clientWith(source)
      .currentAuthorization()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ArvadosApiError);
    expect((error as ArvadosApiError).status).toBe(401);
    expect(api.seen).toEqual([oldToken]);
    expect(source.refreshes).toBe(1);
    expect(String((error as Error).message)).not.toContain("oldsecret");
  });

  it("redacts the old token from errors after a rotation", async () => {
    const source = new CachedSource(oldToken, newToken);
    const error = (await clientWith(source)
      .currentAuthorization()
      .catch((e: unknown) => e)) as Error;
    expect(error.message).toContain("REDACTED");
    expect(error.message).not.toContain("oldsecret");
    expect(error.message).not.toContain("newsecret");
  });

  it("asks for the token's own record once per token value: locks compare with the new uuid (§1.6)", async () => {
    api.accepted.add(oldToken).add(newToken);
    const source = new CachedSource(oldToken, newToken);
    const client = clientWith(source);
    expect((await client.currentAuthorization()).uuid).toBe("zzzzz-gj3su-00000000000old1");
    expect((await client.currentAuthorization()).uuid).toBe("zzzzz-gj3su-00000000000old1");
    source.cached = newToken;
    expect((await client.currentAuthorization()).uuid).toBe("zzzzz-gj3su-00000000000new2");
    expect(api.seen).toEqual([oldToken, newToken]);
  });
});

describe("the SSM token source reads through Powertools Parameters' cache", () => {
  const ssm = new SsmSim();
  const name = "/arvados/zzzzz/dispatch-token";
  beforeAll(async () => {
    await ssm.start();
  });
  afterAll(async () => {
    await ssm.stop();
  });

  it("reuses the value within maxAge and reads SSM again on refresh", async () => {
    ssm.parameters.set(name, oldToken);
    const source = ssmTokenSource(name, { provider: new SSMProvider({ awsSdkV3Client: ssm.client() }) });
    expect(await source.token()).toBe(oldToken);
    ssm.parameters.set(name, newToken);
    expect(await source.token()).toBe(oldToken);
    expect(ssm.reads.get(name)).toBe(1);
    expect(await source.refresh()).toBe(newToken);
    expect(await source.token()).toBe(newToken);
    expect(ssm.reads.get(name)).toBe(2);
  });

  it("a client on an SSM token follows a rotation the server enforces", async () => {
    ssm.parameters.set(name, oldToken);
    const source = ssmTokenSource(name, { provider: new SSMProvider({ awsSdkV3Client: ssm.client() }) });
    api.accepted.add(oldToken);
    const client = clientWith(source);
    expect((await client.currentAuthorization()).uuid).toBe("zzzzz-gj3su-00000000000old1");
    // The operator rotates: SSM holds the new token, the old one is revoked.
    ssm.parameters.set(name, newToken);
    api.accepted.clear();
    api.accepted.add(newToken);
    // Within maxAge the cache still gives the old token: the 401 makes the client refresh.
    await client.getContainer("zzzzz-dz642-000000000000001");
    expect(api.seen.slice(-2)).toEqual([oldToken, newToken]);
    expect((await client.currentAuthorization()).uuid).toBe("zzzzz-gj3su-00000000000new2");
  });
});
