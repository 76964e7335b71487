/**
 * The Arvados wire format (§1.11), as pure functions: turn a call into a complete HTTP request
 * description that a transport sends. Only this module knows how parameters are encoded.
 * The request never holds the token; the sender adds the Authorization header.
 */

import type { ListContainersParams } from "../model/container-api.js";

/** HTTP methods the client uses. */
export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** §1.11: GET parameters longer than this (encoded) move to a POST body with a method override. */
export const maxQueryLength = 1000;

/** A complete request except for authorization: what a transport sends. */
export interface WireRequest {
  /** The method the API sees (GET for an overridden list). */
  logicalMethod: HttpMethod;
  /** The method on the wire (POST when `X-Http-Method-Override: GET` is used). */
  method: HttpMethod;
  /** The path, starting with `/arvados/v1/`. */
  path: string;
  /** Encoded query string without `?`, or "". */
  query: string;
  /** Form-encoded body, or undefined for none. */
  body: string | undefined;
  headers: Record<string, string>;
}

/**
 * Encodes one parameter value as the Go client does (§1.11): strings verbatim, numbers as
 * text, `true` as "true", arrays and objects as JSON text; `false`, null and undefined are
 * omitted (returns undefined).
 */
export function encodeParamValue(value: unknown): string | undefined {
  if (value === undefined || value === null || value === false) return undefined;
  if (value === true) return "true";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  return JSON.stringify(value);
}

/**
 * Form-encodes parameters (§1.11) with keys sorted, as Go's `url.Values.Encode` does, so the
 * same call always produces the same bytes.
 */
export function encodeParams(params: Readonly<Record<string, unknown>>): string {
  const form = new URLSearchParams();
  for (const key of Object.keys(params).sort()) {
    const encoded = encodeParamValue(params[key]);
    if (encoded !== undefined) form.append(key, encoded);
  }
  return form.toString();
}

/**
 * The list parameters as the Go SDK marshals `ResourceListParams` (§1.11): `offset` omitted
 * when 0, empty `filters`/`select` omitted (`omitempty`), everything else as given.
 */
export function listParamsToWire(params: ListContainersParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (params.filters !== undefined && params.filters.length > 0) out.filters = params.filters;
  if (params.order !== undefined && params.order !== "") out.order = params.order;
  if (params.limit !== undefined) out.limit = params.limit;
  if (params.offset !== undefined && params.offset !== 0) out.offset = params.offset;
  if (params.count !== undefined) out.count = params.count;
  if (params.select !== undefined && params.select.length > 0) out.select = params.select;
  return out;
}

/**
 * Builds the request for one API call (§1.11). GET parameters go in the query string when
 * their encoded length is under 1000; longer ones make the request a POST with
 * `X-Http-Method-Override: GET` and a form body. Other methods always send a form body.
 */
export function buildRequest(
  method: HttpMethod,
  path: string,
  params: Readonly<Record<string, unknown>> = {},
): WireRequest {
  const encoded = encodeParams(params);
  const headers: Record<string, string> = { "Content-Type": "application/x-www-form-urlencoded" };
  if (method === "GET") {
    if (encoded.length < maxQueryLength) {
      return { logicalMethod: "GET", method: "GET", path, query: encoded, body: undefined, headers };
    }
    headers["X-Http-Method-Override"] = "GET";
    return { logicalMethod: "GET", method: "POST", path, query: "", body: encoded, headers };
  }
  return { logicalMethod: method, method, path, query: "", body: encoded, headers };
}

/** `/arvados/v1/containers/{uuid}[/{action}]`, with the uuid escaped as one path segment. */
export function containerPath(uuid: string, action?: "lock" | "unlock"): string {
  const base = `/arvados/v1/containers/${encodeURIComponent(uuid)}`;
  return action === undefined ? base : `${base}/${action}`;
}

/** The containers collection path (list, create). */
export const containersPath = "/arvados/v1/containers";

/** The path of the caller's own token record (§5.1). */
export const currentAuthorizationPath = "/arvados/v1/api_client_authorizations/current";
