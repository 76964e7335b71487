/**
 * The HTTP transport under the Arvados client: node:http / node:https with keep-alive agents,
 * a whole-request timeout, a cap on the reply body, and failures classified into what a retry
 * policy needs to know (timed out? did the request provably never reach the server?). It
 * knows nothing of Arvados.
 */

import http from "node:http";
import https from "node:https";

/** One HTTP exchange to perform. Header values may hold the token: never log a TransportRequest. */
export interface TransportRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  timeoutMs: number;
  /**
   * Whether a pooled keep-alive connection may be used (default true). Writes pass false: a
   * pooled socket the server has already closed (common after a Lambda thaw) fails with a
   * reset that cannot be told apart from a lost reply, so a write gets a fresh connection
   * and a reset on it really means the server may have seen the request.
   */
  reuseConnection?: boolean;
}

/** A complete HTTP reply. */
export interface TransportResponse {
  status: number;
  headers: Record<string, string | undefined>;
  body: string;
}

/**
 * A TransportFailure is an exchange that produced no complete reply. `requestSent` is false
 * only for errors raised while connecting (refused, unreachable, DNS), so nothing was sent.
 */
export class TransportFailure extends Error {
  override readonly name = "TransportFailure";
  constructor(
    readonly timedOut: boolean,
    readonly requestSent: boolean,
    readonly code: string | undefined,
    detail: string,
  ) {
    super(detail);
  }
}

/**
 * The largest reply body the transport reads (64 MiB). A full page of 1000 containers with
 * large mounts is a few MiB; a body past this is a broken server or proxy, and buffering it
 * would exhaust a Lambda's memory before the JSON parse could fail.
 */
export const maxResponseBodyBytes = 64 * 2 ** 20;

/**
 * A ResponseTooLargeError is a reply whose body is larger than the transport's cap: reading
 * stopped there and the connection was dropped. It names the request by method and URL path
 * only (never the query or headers: the Authorization header holds the token).
 */
export class ResponseTooLargeError extends Error {
  override readonly name = "ResponseTooLargeError";
  constructor(
    /** The method on the wire. */
    readonly method: string,
    /** The URL path, without the query. */
    readonly path: string,
    /** The reply's HTTP status. */
    readonly status: number,
    /** The cap that was passed, in bytes. */
    readonly limitBytes: number,
  ) {
    super(`reply to ${method} ${path} is larger than ${limitBytes} bytes; stopped reading it`);
  }
}

/**
 * Sends one request; resolves with any HTTP reply (including 4xx/5xx), rejects with
 * TransportFailure, or ResponseTooLargeError for a body past the cap.
 */
export type Transport = (request: TransportRequest) => Promise<TransportResponse>;

/** A transport that owns connection pools, released by `close()`. */
export interface ClosableTransport {
  send: Transport;
  close(): void;
}

/** Errors raised before a connection exists: the server cannot have seen the request. */
const connectErrorCodes = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
]);

function errorCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** Options of the node:http/https transport. */
export interface NodeTransportOptions {
  /** Skip TLS certificate verification (`ARVADOS_API_HOST_INSECURE`). */
  insecure?: boolean;
  /** The largest reply body read, in bytes; default `maxResponseBodyBytes`. */
  maxBodyBytes?: number;
}

/**
 * Creates the node:http/https transport. With `insecure`, TLS certificates are not verified
 * (`ARVADOS_API_HOST_INSECURE`); plain http URLs are used as given. A reply body larger than
 * `maxBodyBytes` is not buffered: the request is destroyed as soon as the cap is passed (or
 * at once, when Content-Length announces more) and the send rejects with ResponseTooLargeError.
 */
export function createNodeTransport(options: NodeTransportOptions = {}): ClosableTransport {
  const rejectUnauthorized = options.insecure !== true;
  const maxBodyBytes = options.maxBodyBytes ?? maxResponseBodyBytes;
  const pooled = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true, rejectUnauthorized }),
  };
  const fresh = {
    http: new http.Agent({ keepAlive: false }),
    https: new https.Agent({ keepAlive: false, rejectUnauthorized }),
  };

  const send: Transport = (request) =>
    new Promise<TransportResponse>((resolve, reject) => {
      const isHttps = request.url.protocol === "https:";
      const body = request.body === undefined ? undefined : Buffer.from(request.body, "utf8");
      const headers: Record<string, string> = { ...request.headers };
      if (body !== undefined) headers["Content-Length"] = String(body.length);
      let timedOut = false;
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const code = errorCode(error);
        const detail = timedOut
          ? `timed out after ${request.timeoutMs} ms`
          : `network error${code === undefined ? "" : ` ${code}`}`;
        reject(
          new TransportFailure(timedOut, timedOut || code === undefined || !connectErrorCodes.has(code), code, detail),
        );
      };
      const req = (isHttps ? https : http).request(request.url, {
        method: request.method,
        headers,
        agent: (request.reuseConnection === false ? fresh : pooled)[isHttps ? "https" : "http"],
      });
      // One deadline for the whole exchange: connect, send, headers and body.
      const timer = setTimeout(() => {
        timedOut = true;
        req.destroy(new Error("timeout"));
      }, request.timeoutMs);
      req.on("error", fail);
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        let received = 0;
        const tooLarge = () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          reject(new ResponseTooLargeError(request.method, request.url.pathname, res.statusCode ?? 0, maxBodyBytes));
          // Stop reading: the socket is closed, never returned to the pool half-read.
          req.destroy();
        };
        const announced = Number(res.headers["content-length"]);
        if (Number.isFinite(announced) && announced > maxBodyBytes) {
          tooLarge();
          return;
        }
        res.on("data", (chunk: Buffer) => {
          received += chunk.length;
          if (received > maxBodyBytes) {
            chunks.length = 0;
            tooLarge();
            return;
          }
          chunks.push(chunk);
        });
        res.on("error", fail);
        res.on("aborted", () => fail(Object.assign(new Error("response aborted"), { code: "ECONNRESET" })));
        res.on("end", () => {
          if (settled) return;
          if (!res.complete) {
            fail(Object.assign(new Error("response incomplete"), { code: "ECONNRESET" }));
            return;
          }
          settled = true;
          clearTimeout(timer);
          const outHeaders: Record<string, string | undefined> = {};
          for (const [key, value] of Object.entries(res.headers)) {
            outHeaders[key] = Array.isArray(value) ? value.join(", ") : value;
          }
          resolve({ status: res.statusCode ?? 0, headers: outHeaders, body: Buffer.concat(chunks).toString("utf8") });
        });
      });
      req.end(body);
    });

  return {
    send,
    close() {
      for (const agent of [pooled.http, pooled.https, fresh.http, fresh.https]) agent.destroy();
    },
  };
}
