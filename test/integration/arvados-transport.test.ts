import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type ClosableTransport,
  ResponseTooLargeError,
  TransportFailure,
  createNodeTransport,
  maxResponseBodyBytes,
} from "../../lib/arvados/transport.js";
import { errorTexts } from "../support/hostile-text.js";

let server: Server;
let base: URL;
let connections: number;
let transport: ClosableTransport;
/** What the /endless route had written when its connection closed, once it has. */
let endless: Promise<{ written: number; finished: boolean }>;

/** The body cap of `small`, the transport the body-cap tests use. */
const smallCap = 64 * 1024;
/** What /endless would send if nobody stopped it: far past smallCap. */
const endlessBytes = 256 * 2 ** 20;

beforeEach(async () => {
  connections = 0;
  let endlessClosed: (outcome: { written: number; finished: boolean }) => void = () => undefined;
  endless = new Promise((resolve) => {
    endlessClosed = resolve;
  });
  server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    if (path === "/hang") return; // never answers
    if (path === "/endless") {
      // A chunked body (no Content-Length) written as fast as the client reads it.
      res.writeHead(200, { "Content-Type": "application/json" });
      const chunk = Buffer.alloc(16 * 1024, "x");
      let written = 0;
      const pump = () => {
        while (written < endlessBytes && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        if (!res.destroyed) res.end();
      };
      res.on("close", () => endlessClosed({ written, finished: res.writableFinished }));
      pump();
      return;
    }
    if (path === "/announced") {
      // Announces more than the cap, sends a little, then waits: only the header can end this early.
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": String(smallCap + 1) });
      res.write("{");
      return;
    }
    if (path === "/at-cap") {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(Buffer.alloc(smallCap, "y"));
      return;
    }
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end("{}");
  });
  server.on("connection", () => {
    connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  transport = createNodeTransport();
});

afterEach(async () => {
  transport.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const send = (path: string, reuseConnection: boolean, timeoutMs = 5000) =>
  transport.send({ url: new URL(path, base), method: "GET", headers: {}, body: undefined, timeoutMs, reuseConnection });

describe("reads share a keep-alive connection; writes always open a fresh one", () => {
  it("reuses one connection for consecutive reads", async () => {
    await send("/a", true);
    await send("/b", true);
    expect(connections).toBe(1);
  });
  it("opens a new connection for every write", async () => {
    await send("/a", false);
    await send("/b", false);
    expect(connections).toBe(2);
  });
});

describe("failures say whether the request may have reached the server", () => {
  it("a timeout is timedOut and may have been sent", async () => {
    const error = await send("/hang", true, 50).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportFailure);
    expect(error).toMatchObject({ timedOut: true, requestSent: true });
  });
  it("a refused connection was never sent", async () => {
    const port = base.port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.listen(0, "127.0.0.1"); // keep afterEach's close valid on a fresh port
    const error = await transport
      .send({ url: new URL(`http://127.0.0.1:${port}/`), method: "POST", headers: {}, body: "", timeoutMs: 5000 })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ timedOut: false, requestSent: false, code: "ECONNREFUSED" });
  });
});

describe("a reply body past the cap fails with ResponseTooLargeError and is not read to its end", () => {
  const secretHeader = "Bearer v2/zzzzz-gj3su-000000000000000/SECRET-transport-cap-0123456789";
  const sendSmall = async (path: string) => {
    const small = createNodeTransport({ maxBodyBytes: smallCap });
    try {
      return await small.send({
        url: new URL(`${path}?filters=%5B%5D`, base),
        method: "GET",
        headers: { Authorization: secretHeader },
        body: undefined,
        // Well under the test's own timeout: without the cap, a test fails on its assertion.
        timeoutMs: 10_000,
      });
    } finally {
      small.close();
    }
  };

  it("the default cap is 64 MiB", () => {
    expect(maxResponseBodyBytes).toBe(64 * 2 ** 20);
  });

  it("a chunked body past the cap: the error names method and path, and the connection is dropped mid-body", async () => {
    const error = await sendSmall("/endless").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResponseTooLargeError);
    expect(error).toMatchObject({ method: "GET", path: "/endless", status: 200, limitBytes: smallCap });
    expect((error as Error).message).toContain("GET /endless");
    for (const text of errorTexts(error)) {
      expect(text).not.toContain("SECRET-transport-cap");
      expect(text).not.toContain("filters");
    }
    // The server never got to write the whole body: the client stopped reading and closed.
    const outcome = await endless;
    expect(outcome.finished).toBe(false);
    expect(outcome.written).toBeLessThan(endlessBytes);
  });

  it("a Content-Length past the cap fails on the headers, without waiting for the body", async () => {
    const error = await sendSmall("/announced").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResponseTooLargeError);
    expect(error).toMatchObject({ path: "/announced", limitBytes: smallCap });
  });

  it("a body of exactly the cap is read whole", async () => {
    const reply = await sendSmall("/at-cap");
    expect(reply.body).toHaveLength(smallCap);
  });
});
