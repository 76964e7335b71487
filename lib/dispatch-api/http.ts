/**
 * Requests and responses of the dispatch API as plain data, independent of how they arrive (a
 * Lambda Function URL event, or the local runner's HTTP front), and the response shapes
 * upstream's handlers write: `httpserver.Error` (`{"errors": [...]}`, JSON) for the API's own
 * errors, Go's `http.Error` (a plain text line) for the router's and the token check's.
 */
import { stringifyArvadosJson } from "../model/exact-json.js";

/** One request, as the dispatch API sees it. */
export interface ApiRequest {
  method: string;
  /** The path as sent, percent-encoding included. */
  rawPath: string;
  /** The query string as sent, without `?`. */
  rawQuery: string;
  /** Header values by lower-case name. */
  headers: Readonly<Record<string, string | undefined>>;
  /** The `Cookie` header's pairs, each `name=value`. */
  cookies: readonly string[];
  /** The body's bytes (empty for none). */
  body: Buffer;
}

/** One response. `body` is text (JSON or a plain line), or empty. */
export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Upstream writes JSON with Go's json.Encoder: the document, then a newline. */
export function jsonResponse(value: unknown, status = 200): ApiResponse {
  return { status, headers: { "content-type": "application/json" }, body: `${stringifyArvadosJson(value)}\n` };
}

/** upstream httpserver.Error: `{"errors":["<message>"]}` with the status. */
export function errorResponse(message: string, status: number): ApiResponse {
  return {
    status,
    headers: { "content-type": "application/json", "x-content-type-options": "nosniff" },
    body: `${JSON.stringify({ errors: [message] })}\n`,
  };
}

/** Go's http.Error: the text and a newline, as text/plain (the router's and the token check's replies). */
export function textResponse(text: string, status: number, headers: Record<string, string> = {}): ApiResponse {
  return {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff", ...headers },
    body: `${text}\n`,
  };
}

/** A handler that writes nothing: 200 and no body (upstream's hold, drain, run and kill on success). */
export function emptyResponse(headers: Record<string, string> = {}): ApiResponse {
  return { status: 200, headers, body: "" };
}
