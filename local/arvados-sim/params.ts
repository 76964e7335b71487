/**
 * Request decoding as the API server does it: parameters from the query string and from a
 * form-encoded or JSON body (body values win), and `X-Http-Method-Override` on a POST (§1.11).
 * Values stay as sent (form values are strings); each operation decodes the JSON ones it
 * expects (`filters`, `select`, `order`, `container`) with parseRequestJson, which keeps
 * int64 priorities exact.
 */

import type { IncomingMessage } from "node:http";
import { ExactJsonUnsupportedError } from "../../lib/model/exact-json.js";
import { argumentError } from "./errors.js";

/** Largest request body accepted. */
const maxBodyBytes = 64 * 1024 * 1024;

/** A decoded request. */
export interface DecodedRequest {
  /** The method the API acts on (the override, for a POST that carries one). */
  method: string;
  /** The method on the wire. */
  rawMethod: string;
  path: string;
  params: Record<string, unknown>;
  /** Which parameter names came from the query string and which from the body. */
  sources: { query: string[]; body: string[] };
  contentType: string | undefined;
}

const integerText = /^-?\d+$/;
const arrayIndex = /^\d+$/;

function reviveExact(key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== "number") return value;
  const exact = key === "priority" || (arrayIndex.test(key) && !Number.isSafeInteger(value));
  if (!exact) return value;
  const source = context?.source;
  if (source === undefined) throw new ExactJsonUnsupportedError();
  return integerText.test(source) ? BigInt(source) : value;
}

/**
 * Parses JSON from a request as the API server reads it (Ruby keeps every JSON integer
 * exact): like `parseArvadosJson`, every `priority` becomes a bigint; so does an integer array
 * element a double cannot hold, since a filter operand (`["priority",">",562949953421311999]`)
 * has no key to go by. Other integers stay numbers: sizes past 2^53 bytes lose precision but
 * are never refused. Throws SyntaxError on bad JSON.
 */
export function parseRequestJson(text: string): unknown {
  return JSON.parse(text, reviveExact as (this: unknown, key: string, value: unknown) => unknown);
}

/** Reads the whole body as UTF-8. */
export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > maxBodyBytes) throw argumentError("request body too large");
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function formToObject(form: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of form) out[key] = value;
  return out;
}

/** Decodes method, path and parameters of a request whose body has been read. */
export function decodeRequest(req: IncomingMessage, url: URL, body: string): DecodedRequest {
  const rawMethod = (req.method ?? "GET").toUpperCase();
  const override = req.headers["x-http-method-override"];
  const method =
    rawMethod === "POST" && typeof override === "string" && override.trim() !== ""
      ? override.trim().toUpperCase()
      : rawMethod;
  const query = formToObject(url.searchParams);
  const contentType = req.headers["content-type"];
  let bodyParams: Record<string, unknown> = {};
  if (body.trim() !== "") {
    if (contentType?.toLowerCase().startsWith("application/json") === true) {
      let parsed: unknown;
      try {
        parsed = parseRequestJson(body);
      } catch {
        throw argumentError("Could not parse JSON request body");
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
        throw argumentError("JSON request body must be an object");
      bodyParams = parsed as Record<string, unknown>;
    } else {
      bodyParams = formToObject(new URLSearchParams(body));
    }
  }
  return {
    method,
    rawMethod,
    path: url.pathname,
    params: { ...query, ...bodyParams },
    sources: { query: Object.keys(query), body: Object.keys(bodyParams) },
    contentType,
  };
}
