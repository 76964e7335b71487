import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ClosableTransport, TransportFailure, createNodeTransport } from "../../lib/arvados/transport.js";

let server: Server;
let base: URL;
let connections: number;
let transport: ClosableTransport;

beforeEach(async () => {
  connections = 0;
  server = createServer((req, res) => {
    if (req.url === "/hang") return; // never answers
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
