/**
 * Typed errors of the Arvados API client. Callers branch on the class and fields (`status`, `timedOut`,
 * `requestSent`), never on message text. No error ever carries the API token: messages are
 * built from the method, the path (never the query string) and the server's own messages,
 * and those are passed through `redactSecrets` before they are stored.
 */

import { STATUS_CODES } from "node:http";

/** Text that replaces a secret wherever one would otherwise appear. */
export const REDACTED = "[REDACTED]";

/**
 * Replaces every occurrence of each secret in `text` (a v2 token `v2/<uuid>/<secret>` is also
 * redacted by its bare secret part, which the server alone would know it by).
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    out = out.split(secret).join(REDACTED);
    const bare = secret.startsWith("v2/") ? secret.split("/")[2] : undefined;
    if (bare !== undefined && bare.length >= 4) out = out.split(bare).join(REDACTED);
  }
  return out;
}

/** The base of every error the client throws: which logical call failed. */
export abstract class ArvadosError extends Error {
  /** The logical HTTP method (GET for a list sent as POST with a method override). */
  readonly method: string;
  /** The request path only, e.g. `/arvados/v1/containers/zzzzz-dz642-...`; never a query or token. */
  readonly path: string;

  constructor(method: string, path: string, message: string) {
    super(message);
    this.method = method;
    this.path = path;
  }
}

/**
 * An ArvadosApiError is a non-2xx reply from the API server. `messages` are the server's
 * `errors[]` (each ending with its request id in parentheses, as upstream renders them).
 */
export class ArvadosApiError extends ArvadosError {
  override readonly name = "ArvadosApiError";
  readonly status: number;
  readonly messages: readonly string[];
  /** The `X-Request-Id` of the reply, or the one the client sent. */
  readonly requestId: string | undefined;

  constructor(args: { method: string; path: string; status: number; messages: readonly string[]; requestId?: string }) {
    const statusText = STATUS_CODES[args.status] ?? "";
    const detail = args.messages.length > 0 ? `: ${args.messages.join("; ")}` : "";
    super(args.method, args.path, `arvados API ${args.method} ${args.path}: ${args.status} ${statusText}${detail}`);
    this.status = args.status;
    this.messages = args.messages;
    this.requestId = args.requestId;
  }

  /** 404: no such record or path. */
  get isNotFound(): boolean {
    return this.status === 404;
  }
  /** 401: the token is missing, unknown or expired. */
  get isUnauthorized(): boolean {
    return this.status === 401;
  }
  /** 403: e.g. "locked by a different token" (§5.4) or a non-admin update (§5.5). */
  get isForbidden(): boolean {
    return this.status === 403;
  }
  /** 422: rejected by validation, e.g. "cannot lock when Locked" (§5.4) or a bad filter (§5.7). */
  get isUnprocessable(): boolean {
    return this.status === 422;
  }
  /** 5xx: the server failed; the request may or may not have taken effect. */
  get isServerError(): boolean {
    return this.status >= 500;
  }
}

/**
 * An ArvadosNetworkError is a request that got no complete HTTP reply: connection refused or
 * reset, DNS failure, or the client's timeout. `requestSent` is false only when the request
 * provably never reached the server (it could not connect), which is the one case where a
 * non-idempotent call is safe to repeat.
 */
export class ArvadosNetworkError extends ArvadosError {
  override readonly name = "ArvadosNetworkError";
  readonly timedOut: boolean;
  readonly requestSent: boolean;
  /** The system error code (`ECONNREFUSED`, `ECONNRESET`, ...), when there is one. */
  readonly code: string | undefined;

  constructor(args: {
    method: string;
    path: string;
    timedOut: boolean;
    requestSent: boolean;
    code?: string;
    detail: string;
  }) {
    super(args.method, args.path, `arvados API ${args.method} ${args.path}: ${args.detail}`);
    this.timedOut = args.timedOut;
    this.requestSent = args.requestSent;
    this.code = args.code;
  }
}

/**
 * An ArvadosResponseError is a 2xx reply whose body is not what the call returns: not JSON,
 * not an object, or missing a field of the expected type. The call may have taken effect.
 */
export class ArvadosResponseError extends ArvadosError {
  override readonly name = "ArvadosResponseError";
  readonly status: number;
  readonly reason: string;
  /** The container (or list) field that failed to decode, e.g. `mounts`; undefined if the body itself is bad. */
  readonly field: string | undefined;
  readonly requestId: string | undefined;

  constructor(args: {
    method: string;
    path: string;
    status: number;
    reason: string;
    field?: string;
    requestId?: string;
  }) {
    super(args.method, args.path, `arvados API ${args.method} ${args.path}: malformed response: ${args.reason}`);
    this.status = args.status;
    this.reason = args.reason;
    this.field = args.field;
    this.requestId = args.requestId;
  }
}

/**
 * An ArvadosResponseTooLargeError is a reply whose body passed the transport's cap
 * (`maxResponseBodyBytes`, 64 MiB): the client stopped reading it and dropped the connection.
 * It is never retried, since the same request would get the same reply; a write may have
 * taken effect.
 */
export class ArvadosResponseTooLargeError extends ArvadosError {
  override readonly name = "ArvadosResponseTooLargeError";
  /** The reply's HTTP status. */
  readonly status: number;
  /** The cap that was passed, in bytes. */
  readonly limitBytes: number;

  constructor(args: { method: string; path: string; status: number; limitBytes: number }) {
    super(
      args.method,
      args.path,
      `arvados API ${args.method} ${args.path}: reply body larger than ${args.limitBytes} bytes (HTTP ${args.status}); not read`,
    );
    this.status = args.status;
    this.limitBytes = args.limitBytes;
  }
}

/** An ArvadosConfigError is a missing or invalid client setting (e.g. an unset environment variable). */
export class ArvadosConfigError extends Error {
  override readonly name = "ArvadosConfigError";
  /** The setting at fault, e.g. `ARVADOS_API_HOST`. */
  readonly setting: string;

  constructor(setting: string, message: string) {
    super(message);
    this.setting = setting;
  }
}
