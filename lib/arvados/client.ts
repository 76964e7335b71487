/**
 * The Arvados API client the dispatcher's functions use (upstream `arvados.Client` as the
 * dispatcher drives it, §1.6–1.11), implementing the ContainerApi port.
 */

import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { inspect } from "node:util";
import {
  ArvadosApiError,
  ArvadosConfigError,
  ArvadosNetworkError,
  ArvadosResponseError,
  ArvadosResponseTooLargeError,
  REDACTED,
  redactSecrets,
} from "./errors.js";
import type { ContainerApi, DecodedMounts, ListContainersParams } from "../model/container-api.js";
import {
  DecodeFailure,
  decodeAuthorization,
  decodeContainer,
  decodeContainerList,
  decodeJsonObject,
  decodeQueuedContainerList,
  decodeStateChange,
} from "./response.js";
import { queueSelect } from "./container-schema.js";
import { decodeMounts } from "./mounts.js";
import { type RetryPolicy, backoffDelayMs, defaultRetryPolicy, isRetryable } from "./retry.js";
import { type TokenSource, staticTokenSource } from "./token-source.js";
import { ResponseTooLargeError, type Transport, TransportFailure, createNodeTransport } from "./transport.js";
import type { Container, ContainerStateChange, QueuedContainer } from "../model/container.js";
import type { ApiClientAuthorization, ContainerList } from "../model/container-api.js";
import {
  type HttpMethod,
  type WireRequest,
  buildRequest,
  containerPath,
  containersPath,
  currentAuthorizationPath,
  listParamsToWire,
} from "./wire.js";

/** Default deadline for one request attempt. */
export const defaultTimeoutMs = 30_000;

/** How to reach and authenticate to the API server. */
export interface ArvadosClientOptions {
  /** `host[:port]` (https is implied), or a full `http://` / `https://` URL (local runs and tests). */
  apiHost: string;
  /**
   * The API token (`v2/<uuid>/<secret>` or a bare secret), or a source asked before each request
   * (SSM in AWS, so a rotated token is used without a redeploy). Never logged, never in errors.
   */
  token: string | TokenSource;
  /** Skip TLS certificate verification (`ARVADOS_API_HOST_INSECURE`). */
  insecure?: boolean;
  /** Deadline for each request attempt, connect to last body byte. Default 30 s. */
  timeoutMs?: number;
  /** Retry bounds; see `isRetryable` for which failures are retried. Default 3 attempts, 200 ms, 5 s. */
  retry?: Partial<RetryPolicy>;
  /** Replaces the node:http(s) transport (e.g. to record traffic); `insecure` then has no effect. */
  transport?: Transport;
}

/** Resolves `apiHost` to the base URL requests are made against. */
export function apiBaseUrl(apiHost: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(apiHost) ? apiHost : `https://${apiHost}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ArvadosConfigError("apiHost", "Arvados API host is not a valid host or URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ArvadosConfigError("apiHost", `Arvados API host has unsupported scheme ${url.protocol}`);
  }
  return url;
}

/** The id sent as `X-Request-Id`, in the Go SDK's shape (`req-` + 20 base-36 characters). */
function newRequestId(): string {
  const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
  return `req-${Array.from(randomBytes(20), (b) => alphabet[b % 36]).join("")}`;
}

/**
 * An ArvadosClient talks to one Arvados API server with one token. Every method blocks until
 * the server answers (each attempt bounded by `timeoutMs`) and returns fresh server data; it
 * rejects with ArvadosApiError (non-2xx), ArvadosNetworkError (no reply),
 * ArvadosResponseError (a 2xx reply that does not decode) or ArvadosResponseTooLargeError (a
 * body past the transport's cap, not read). Reads are retried with jittered
 * backoff on network failures and 502/503/504; writes only when they provably never reached
 * the server. The token never appears in errors, and logging the client prints no token.
 */
export class ArvadosClient implements ContainerApi {
  readonly #tokens: TokenSource;
  /** Every token this client has sent: errors are redacted of old ones too. */
  readonly #seenTokens = new Set<string>();
  /** The current token's own record (§1.6), fetched once per token value. */
  #authorization: { token: string; record: Promise<ApiClientAuthorization> } | undefined;
  readonly #base: URL;
  readonly #insecure: boolean;
  readonly #timeoutMs: number;
  readonly #retry: RetryPolicy;
  readonly #send: Transport;
  readonly #close: () => void;
  #last503: Date | undefined;

  constructor(options: ArvadosClientOptions) {
    if (options.token === "") throw new ArvadosConfigError("token", "Arvados API token is empty");
    this.#tokens = typeof options.token === "string" ? staticTokenSource(options.token) : options.token;
    this.#base = apiBaseUrl(options.apiHost);
    this.#insecure = options.insecure === true;
    this.#timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
    this.#retry = { ...defaultRetryPolicy, ...options.retry };
    if (options.transport !== undefined) {
      this.#send = options.transport;
      this.#close = () => {};
    } else {
      const transport = createNodeTransport({ insecure: this.#insecure });
      this.#send = transport.send;
      this.#close = transport.close;
    }
  }

  /** The base URL requests go to (no token). */
  get baseUrl(): string {
    return this.#base.origin + this.#base.pathname.replace(/\/$/, "");
  }

  /**
   * `GET /arvados/v1/api_client_authorizations/current` (§1.6): this token's record, without its
   * secret. Asked once per token value: a rotated token has its own uuid, and `locked_by_uuid`
   * must be compared with the uuid of the token that locks.
   */
  async currentAuthorization(): Promise<ApiClientAuthorization> {
    const token = await this.#tokens.token();
    if (this.#authorization?.token !== token) {
      const record = this.#call("GET", currentAuthorizationPath, {}, true, decodeAuthorization);
      const cached = { token, record };
      this.#authorization = cached;
      // A failed lookup is asked again next time, not remembered.
      record.catch(() => {
        if (this.#authorization === cached) this.#authorization = undefined;
      });
    }
    return this.#authorization.record;
  }

  /** `GET /arvados/v1/containers` (§5.7) with the parameters encoded as §1.11. */
  listContainers(params: ListContainersParams): Promise<ContainerList<Partial<Container>>> {
    return this.#call("GET", containersPath, listParamsToWire(params), true, decodeContainerList);
  }

  /** A page of the queue's poll (§1.6): `select` is the queue's, each item decoded as the queue caches it. */
  listQueuedContainers(params: Omit<ListContainersParams, "select">): Promise<ContainerList<QueuedContainer>> {
    return this.#call(
      "GET",
      containersPath,
      listParamsToWire({ ...params, select: queueSelect }),
      true,
      decodeQueuedContainerList,
    );
  }

  /** The container's mounts (`select=["mounts"]`), decoded with Go's rules (§1.8). */
  async getContainerMounts(uuid: string): Promise<DecodedMounts> {
    return decodeMounts((await this.getContainer(uuid, ["mounts"])).mounts);
  }

  /** `GET /arvados/v1/containers/{uuid}`, optionally with `select`. */
  getContainer(uuid: string, select?: readonly string[]): Promise<Partial<Container>> {
    return this.#call("GET", containerPath(uuid), selectParam(select), true, decodeContainer);
  }

  /** `PUT /arvados/v1/containers/{uuid}` with `container=<json attrs>` (§1.8, §1.9). Never retried once sent. */
  updateContainer(
    uuid: string,
    attrs: Record<string, unknown>,
    select?: readonly string[],
  ): Promise<Partial<Container>> {
    return this.#call("PUT", containerPath(uuid), { container: attrs, ...selectParam(select) }, false, decodeContainer);
  }

  /** `POST /arvados/v1/containers/{uuid}/lock` (§5.4). Never retried once sent. */
  lockContainer(uuid: string): Promise<ContainerStateChange> {
    return this.#call("POST", containerPath(uuid, "lock"), {}, false, decodeStateChange);
  }

  /** `POST /arvados/v1/containers/{uuid}/unlock` (§5.4). Never retried once sent. */
  unlockContainer(uuid: string): Promise<ContainerStateChange> {
    return this.#call("POST", containerPath(uuid, "unlock"), {}, false, decodeStateChange);
  }

  /** Time of the last 503 reply this client saw (§3.3), or undefined. */
  last503(): Date | undefined {
    return this.#last503;
  }

  /** Releases pooled connections. The client must not be used afterwards. */
  close(): void {
    this.#close();
  }

  /** What JSON.stringify shows: never the token. */
  toJSON(): Record<string, unknown> {
    return { apiHost: this.baseUrl, insecure: this.#insecure, timeoutMs: this.#timeoutMs, token: REDACTED };
  }

  toString(): string {
    return `ArvadosClient(${this.baseUrl})`;
  }

  [inspect.custom](): string {
    return `ArvadosClient ${inspect(this.toJSON())}`;
  }

  async #call<T>(
    method: HttpMethod,
    path: string,
    params: Record<string, unknown>,
    idempotent: boolean,
    decode: (body: string) => T,
  ): Promise<T> {
    const request = buildRequest(method, path, params);
    const requestId = newRequestId();
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      const token = await this.#tokens.token();
      try {
        return await this.#attempt(request, requestId, idempotent, decode, token);
      } catch (error) {
        // A 401 was not acted on: after a token rotation, read the source once more and retry
        // with the new token (also a write: the server refused it before doing anything).
        if (error instanceof ArvadosApiError && error.status === 401 && !refreshed) {
          refreshed = true;
          if ((await this.#tokens.refresh()) !== token) continue;
        }
        if (attempt >= this.#retry.attempts || !isRetryable(error, idempotent)) throw error;
        await sleep(backoffDelayMs(this.#retry, attempt));
      }
    }
  }

  async #attempt<T>(
    request: WireRequest,
    requestId: string,
    idempotent: boolean,
    decode: (body: string) => T,
    token: string,
  ): Promise<T> {
    const { logicalMethod: method, path } = request;
    this.#seenTokens.add(token);
    const url = new URL(this.baseUrl + path);
    url.search = request.query;
    let response: Awaited<ReturnType<Transport>>;
    try {
      response = await this.#send({
        url,
        method: request.method,
        headers: { ...request.headers, Authorization: `Bearer ${token}`, "X-Request-Id": requestId },
        body: request.body,
        timeoutMs: this.#timeoutMs,
        // Reads may ride a pooled connection (a stale one just means a retry); writes never do.
        reuseConnection: idempotent,
      });
    } catch (error) {
      if (error instanceof ResponseTooLargeError) {
        throw new ArvadosResponseTooLargeError({ method, path, status: error.status, limitBytes: error.limitBytes });
      }
      if (error instanceof TransportFailure) {
        const { timedOut, requestSent, code } = error;
        throw new ArvadosNetworkError({
          method,
          path,
          timedOut,
          requestSent,
          code,
          detail: this.#redact(error.message),
        });
      }
      throw new ArvadosNetworkError({ method, path, timedOut: false, requestSent: true, detail: "transport failed" });
    }
    const replyId = response.headers["x-request-id"] ?? requestId;
    // §3.3: the scheduler lowers its concurrency after a 503.
    if (response.status === 503) this.#last503 = new Date();
    if (response.status < 200 || response.status > 299) {
      throw new ArvadosApiError({
        method,
        path,
        status: response.status,
        messages: this.#errorMessages(response.body),
        requestId: replyId,
      });
    }
    try {
      return decode(response.body);
    } catch (error) {
      if (!(error instanceof DecodeFailure)) throw error;
      throw new ArvadosResponseError({
        method,
        path,
        status: response.status,
        reason: this.#redact(error.reason),
        field: error.field,
        requestId: replyId,
      });
    }
  }

  /** The server's `errors[]` (§5.7), redacted; empty when the body is not an upstream error body. */
  #errorMessages(body: string): string[] {
    try {
      const errors = decodeJsonObject(body).errors;
      if (!Array.isArray(errors)) return [];
      return errors.filter((m): m is string => typeof m === "string").map((m) => this.#redact(m));
    } catch {
      return [];
    }
  }

  #redact(text: string): string {
    return redactSecrets(text, [...this.#seenTokens]);
  }
}

function selectParam(select: readonly string[] | undefined): Record<string, unknown> {
  return select === undefined ? {} : { select };
}
