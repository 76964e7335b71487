import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { ArvadosClient, apiBaseUrl } from "../../lib/arvados/client.js";
import { arvadosClientOptionsFromEnv } from "../../lib/arvados/env.js";
import {
  ArvadosApiError,
  ArvadosConfigError,
  ArvadosNetworkError,
  ArvadosResponseError,
  ArvadosResponseTooLargeError,
  redactSecrets,
} from "../../lib/arvados/errors.js";
import { backoffDelayMs, defaultRetryPolicy, isRetryable } from "../../lib/arvados/retry.js";

const secret = "s3cr3tvalue0123456789abcdefghijklmnopqrstuvwxyz0123";
const token = `v2/zzzzz-gj3su-000000000000000/${secret}`;

function apiError(status: number): ArvadosApiError {
  return new ArvadosApiError({ method: "GET", path: "/arvados/v1/containers", status, messages: [] });
}
function networkError(requestSent: boolean, timedOut = false): ArvadosNetworkError {
  return new ArvadosNetworkError({ method: "POST", path: "/p", timedOut, requestSent, detail: "x" });
}

describe("reads are retried on network failures and 502/503/504", () => {
  it.each([502, 503, 504])("retries a read on %i", (status) => {
    expect(isRetryable(apiError(status), true)).toBe(true);
  });
  it.each([400, 401, 403, 404, 422, 500])("does not retry a read on %i", (status) => {
    expect(isRetryable(apiError(status), true)).toBe(false);
  });
  it("retries a read after a timeout or a reset", () => {
    expect(isRetryable(networkError(true, true), true)).toBe(true);
    expect(isRetryable(networkError(true), true)).toBe(true);
  });
  it("does not retry a malformed reply", () => {
    expect(isRetryable(new ArvadosResponseError({ method: "GET", path: "/p", status: 200, reason: "x" }), true)).toBe(
      false,
    );
  });
  it("does not retry a reply past the body cap, even a 503 one", () => {
    expect(
      isRetryable(new ArvadosResponseTooLargeError({ method: "GET", path: "/p", status: 503, limitBytes: 1 }), true),
    ).toBe(false);
  });
});

describe("writes are retried only when the request provably never reached the server", () => {
  it("retries a write that could not connect", () => {
    expect(isRetryable(networkError(false), false)).toBe(true);
  });
  it("does not retry a write after a timeout or reset", () => {
    expect(isRetryable(networkError(true, true), false)).toBe(false);
    expect(isRetryable(networkError(true), false)).toBe(false);
  });
  it.each([500, 502, 503, 504])("does not retry a write on %i", (status) => {
    expect(isRetryable(apiError(status), false)).toBe(false);
  });
});

describe("backoff is exponential, capped, with equal jitter", () => {
  const policy = { attempts: 10, baseDelayMs: 200, maxDelayMs: 5000 };
  it("waits between half and all of base × 2^(n-1)", () => {
    expect(backoffDelayMs(policy, 1, () => 0)).toBe(100);
    expect(backoffDelayMs(policy, 1, () => 0.999999)).toBeCloseTo(200, 3);
    expect(backoffDelayMs(policy, 3, () => 0)).toBe(400);
  });
  it("never exceeds the cap", () => {
    expect(backoffDelayMs(policy, 20, () => 0.999999)).toBeLessThanOrEqual(5000);
    expect(backoffDelayMs(policy, 20, () => 0)).toBe(2500);
  });
  it("defaults to 3 attempts, 200 ms base, 5 s cap", () => {
    expect(defaultRetryPolicy).toEqual({ attempts: 3, baseDelayMs: 200, maxDelayMs: 5000 });
  });
});

describe("options come from ARVADOS_API_HOST, ARVADOS_API_TOKEN and ARVADOS_API_HOST_INSECURE", () => {
  it("reads host and token, secure by default", () => {
    expect(arvadosClientOptionsFromEnv({ ARVADOS_API_HOST: "zzzzz.example.org", ARVADOS_API_TOKEN: token })).toEqual({
      apiHost: "zzzzz.example.org",
      token,
      insecure: false,
    });
  });
  it.each(["1", "true", "yes", "TRUE", "Yes"])("turns TLS verification off for %s", (value) => {
    const env = { ARVADOS_API_HOST: "h", ARVADOS_API_TOKEN: token, ARVADOS_API_HOST_INSECURE: value };
    expect(arvadosClientOptionsFromEnv(env).insecure).toBe(true);
  });
  it.each(["0", "false", "no", "", "maybe"])("keeps TLS verification on for %j", (value) => {
    const env = { ARVADOS_API_HOST: "h", ARVADOS_API_TOKEN: token, ARVADOS_API_HOST_INSECURE: value };
    expect(arvadosClientOptionsFromEnv(env).insecure).toBe(false);
  });
  it("names the missing variable in a typed error", () => {
    expect(() => arvadosClientOptionsFromEnv({ ARVADOS_API_TOKEN: token })).toThrow(
      expect.objectContaining({ setting: "ARVADOS_API_HOST" }),
    );
    expect(() => arvadosClientOptionsFromEnv({ ARVADOS_API_HOST: "h" })).toThrow(ArvadosConfigError);
  });
});

describe("a plain http:// ARVADOS_API_HOST is refused unless it is a loopback address", () => {
  const withHost = (host: string) => ({ ARVADOS_API_HOST: host, ARVADOS_API_TOKEN: token });

  it.each([
    "http://127.0.0.1:9999",
    "http://127.42.0.9",
    "http://localhost:8000",
    "http://[::1]:8000",
    "HTTP://LOCALHOST:1",
    "http://127.1:80",
  ])("allows %s (the simulators listen there)", (host) => {
    expect(arvadosClientOptionsFromEnv(withHost(host)).apiHost).toBe(host);
  });

  it.each([
    ["http://zzzzz.example.org", "zzzzz.example.org"],
    ["http://10.0.0.5:8000", "10.0.0.5"],
    ["http://128.0.0.1", "128.0.0.1"],
    ["http://localhost.example.org", "localhost.example.org"],
    ["http://127.0.0.1.nip.io", "127.0.0.1.nip.io"],
    ["http://[::2]", "[::2]"],
    ["http://0.0.0.0:8000", "0.0.0.0"],
    [" http://zzzzz.example.org:443 ", "zzzzz.example.org"],
  ])("refuses %s with ArvadosConfigError naming the variable and the host", (host, hostname) => {
    let thrown: unknown;
    try {
      arvadosClientOptionsFromEnv(withHost(host));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ArvadosConfigError);
    expect(thrown).toMatchObject({ setting: "ARVADOS_API_HOST" });
    expect((thrown as Error).message).toContain(`plain http:// to ${hostname}, which is not a loopback address`);
    expect((thrown as Error).message).not.toContain(secret);
  });

  it("keeps https and a bare host:port (https implied) for any host", () => {
    expect(arvadosClientOptionsFromEnv(withHost("https://zzzzz.example.org")).apiHost).toBe(
      "https://zzzzz.example.org",
    );
    expect(arvadosClientOptionsFromEnv(withHost("zzzzz.example.org:443")).apiHost).toBe("zzzzz.example.org:443");
  });

  it("does not show credentials in a URL's user part", () => {
    expect(() => arvadosClientOptionsFromEnv(withHost("http://user:hunter2pass@zzzzz.example.org"))).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining("hunter2pass") }),
    );
  });
});

describe("apiHost is host:port (https) or a full URL", () => {
  it("implies https for host:port", () => {
    expect(apiBaseUrl("zzzzz.example.org:8443").href).toBe("https://zzzzz.example.org:8443/");
  });
  it("keeps an http URL as given", () => {
    expect(apiBaseUrl("http://127.0.0.1:9999").href).toBe("http://127.0.0.1:9999/");
  });
  it("rejects other schemes", () => {
    expect(() => apiBaseUrl("ftp://x")).toThrow(ArvadosConfigError);
  });
});

describe("the token never appears in anything the client or its errors print", () => {
  it("redacts a v2 token and its bare secret", () => {
    expect(redactSecrets(`a ${token} b ${secret} c`, [token])).toBe("a [REDACTED] b [REDACTED] c");
  });
  it("logging the client shows no token", () => {
    const client = new ArvadosClient({ apiHost: "http://127.0.0.1:1", token });
    const printed = [
      inspect(client),
      JSON.stringify(client),
      String(client),
      inspect(client, { showHidden: true, depth: 5 }),
    ];
    for (const text of printed) expect(text).not.toContain(secret);
    expect(JSON.stringify(client)).toContain("127.0.0.1:1");
    client.close();
  });
});
