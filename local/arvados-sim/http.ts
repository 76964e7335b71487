/**
 * The simulator's HTTP front: routes (§5.1), authentication, the error format (§5.7
 * "Errors": `{"errors":["<msg> (<request id>)"],"error_token":"<unix>+<8 hex>"}` and an
 * `X-Request-Id` header), fault injection and the request log. `/_sim/...` paths go to the
 * test controls instead. Every body is written with stringifyArvadosJson, so int64 priorities
 * go out as their exact digits.
 */

import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { stringifyArvadosJson } from "../../lib/model/exact-json.js";
import { SimError, notFound, notLoggedIn } from "./errors.js";
import type { FaultEffect, FaultPlan } from "./faults.js";
import { type DecodedRequest, decodeRequest, readBody } from "./params.js";
import type { RequestLog } from "./request-log.js";
import type { ContainerService } from "./service.js";
import { type Caller, type SimToken, type TokenRegistry, callerOf } from "./tokens.js";

/** What the handler works with. */
export interface HttpDeps {
  service: ContainerService;
  tokens: TokenRegistry;
  faults: FaultPlan;
  log: RequestLog;
  /** Handles `/_sim/...` requests. */
  controls: (method: string, path: string, body: string) => { status: number; body: unknown };
  /** Aborted when the simulator stops, cutting injected delays short. */
  signal: AbortSignal;
}

type Operation = (caller: Caller, token: SimToken, params: Record<string, unknown>) => Record<string, unknown>;

function requestIdFor(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  if (typeof given === "string" && /^[A-Za-z0-9-]{1,255}$/.test(given)) return given;
  const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
  return `req-${Array.from(randomBytes(20), (b) => alphabet[b % 36]).join("")}`;
}

/** §5.1 routes; undefined means "Path not found". */
function route(deps: HttpDeps, method: string, path: string): Operation | undefined {
  const { service } = deps;
  if (path === "/arvados/v1/api_client_authorizations/current") {
    return method === "GET" ? (_caller, token) => authorizationRecord(token) : undefined;
  }
  if (path === "/arvados/v1/containers") {
    if (method === "GET") return (caller, _t, params) => service.index(caller, params);
    if (method === "POST") return (caller, _t, params) => service.create(caller, params);
    return undefined;
  }
  const member = /^\/arvados\/v1\/containers\/([^/]+)(?:\/(lock|unlock))?$/.exec(path);
  if (member === null) return undefined;
  const uuid = decodeURIComponent(member[1] ?? "");
  const action = member[2];
  if (action !== undefined) {
    if (method !== "POST") return undefined;
    return action === "lock" ? (caller) => service.lock(caller, uuid) : (caller) => service.unlock(caller, uuid);
  }
  if (uuid === "current" && method === "GET") {
    // No simulated container runs with its own token.
    return () => {
      throw new SimError(404, ["Token is not associated with a container."]);
    };
  }
  if (method === "GET") return (caller, _t, params) => service.show(caller, uuid, params);
  if (method === "PUT" || method === "PATCH") return (caller, _t, params) => service.update(caller, uuid, params);
  if (method === "DELETE") return (caller, _t, params) => service.destroy(caller, uuid, params);
  return undefined;
}

/** The token's own record, as upstream renders it (including the secret in `api_token`). */
function authorizationRecord(token: SimToken): Record<string, unknown> {
  return {
    kind: "arvados#apiClientAuthorization",
    etag: "",
    uuid: token.uuid,
    owner_uuid: token.userUuid,
    api_token: token.secret,
    created_by_ip_address: null,
    expires_at: null,
    last_used_at: null,
    last_used_by_ip_address: null,
    scopes: ["all"],
  };
}

function sendJson(res: ServerResponse, status: number, requestId: string, body: string): void {
  res.writeHead(status, {
    "Content-Type": "application/json",
    "X-Request-Id": requestId,
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

function errorBody(messages: readonly string[], requestId: string): string {
  const token = `${Math.floor(Date.now() / 1000)}+${randomBytes(4).toString("hex")}`;
  return stringifyArvadosJson({ errors: messages.map((m) => `${m} (${requestId})`), error_token: token });
}

function describeFault(effect: FaultEffect): string {
  return effect.kind === "status"
    ? `status ${effect.status}`
    : effect.kind === "delay"
      ? `delay ${effect.ms}ms`
      : effect.kind;
}

/** Creates the request listener for the simulator's HTTP server. */
export function createRequestListener(deps: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(deps, req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, "req-internal", errorBody(["simulator internal error"], "req-internal"));
      else res.destroy();
    });
  };
}

async function handle(deps: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const requestId = requestIdFor(req);
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  const body = await readBody(req);
  if (url.pathname.startsWith("/_sim/")) {
    const reply = deps.controls((req.method ?? "GET").toUpperCase(), url.pathname, body);
    sendJson(res, reply.status, requestId, stringifyArvadosJson(reply.body ?? null));
    return;
  }
  let decoded: DecodedRequest;
  try {
    decoded = decodeRequest(req, url, body);
  } catch (error) {
    const messages = error instanceof SimError ? error.messages : ["bad request"];
    sendJson(res, 422, requestId, errorBody(messages, requestId));
    return;
  }
  const token = deps.tokens.authenticate(req.headers.authorization);
  const fault = deps.faults.take(decoded.method, decoded.path);
  const { params, ...rest } = decoded;
  const entry = deps.log.add({
    method: rest.method,
    rawMethod: rest.rawMethod,
    path: rest.path,
    params,
    sources: rest.sources,
    contentType: rest.contentType,
    tokenUuid: token?.uuid ?? null,
    requestId,
    fault: fault === undefined ? undefined : describeFault(fault),
  });
  const reply = (status: number, text: string) => {
    entry.status = status;
    sendJson(res, status, requestId, text);
  };

  if (fault?.kind === "reset") {
    req.socket.destroy();
    return;
  }
  if (fault?.kind === "status") {
    reply(fault.status, errorBody([fault.message ?? "simulated fault"], requestId));
    return;
  }
  if (fault?.kind === "delay") {
    try {
      await sleep(fault.ms, undefined, { signal: deps.signal });
    } catch {
      res.destroy();
      return;
    }
  }

  let status = 200;
  let text: string;
  try {
    const operation = route(deps, decoded.method, decoded.path);
    if (operation === undefined) throw notFound();
    if (token === undefined) throw notLoggedIn();
    // int64 priorities are written as their exact digits, as the API server writes them (§5.6).
    text = stringifyArvadosJson(operation(callerOf(token), token, params));
  } catch (error) {
    if (!(error instanceof SimError)) throw error;
    status = error.status;
    text = errorBody(error.messages, requestId);
  }
  if (fault?.kind === "replace") {
    reply(fault.status ?? status, fault.body);
    return;
  }
  if (fault?.kind === "malformed") {
    reply(status, "<html><body>Bad Gateway</body></html>");
    return;
  }
  if (fault?.kind === "truncated") {
    // Sent without Content-Length, so the reply ends cleanly after half the JSON.
    entry.status = status;
    res.writeHead(status, { "Content-Type": "application/json", "X-Request-Id": requestId });
    res.end(text.slice(0, Math.floor(text.length / 2)));
    return;
  }
  reply(status, text);
}
