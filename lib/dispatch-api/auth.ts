/**
 * The dispatch API's authorization, as upstream's: `auth.RequireLiteralToken(ManagementToken)`
 * around the whole router. The request's tokens are gathered where upstream's
 * `LoadTokensFromHTTPRequest` looks (the `Authorization: Bearer` or `OAuth2` header, a Basic
 * password, `api_token` query parameters, the `arvados_api_token` cookie); none → 401, none of
 * them the ManagementToken → 403. Tokens are compared in constant time, and never logged.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { ApiRequest } from "./http.js";

/** The outcome of the token check. */
export type AuthOutcome = "allowed" | "missing" | "refused";

/** Upstream `Credentials.LoadTokensFromHTTPRequest`: every token the request carries, trimmed. */
export function requestTokens(request: ApiRequest): string[] {
  const tokens: string[] = [];
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const space = authorization.indexOf(" ");
    const scheme = space < 0 ? authorization : authorization.slice(0, space);
    // Pre-3.0 clients send "OAuth2 <token>"; upstream still accepts it.
    if (space > 0 && (scheme === "Bearer" || scheme === "OAuth2")) tokens.push(authorization.slice(space + 1).trim());
    const password = basicPassword(authorization);
    if (password !== undefined) tokens.push(password.trim());
  }
  for (const token of new URLSearchParams(request.rawQuery).getAll("api_token")) tokens.push(token.trim());
  const cookie = cookieToken(request.cookies);
  if (cookie !== undefined) tokens.push(cookie.trim());
  return tokens;
}

/** Go's Request.BasicAuth: "Basic " (any case), base64 of `user:password`. */
function basicPassword(authorization: string): string | undefined {
  if (authorization.length < 6 || authorization.slice(0, 6).toLowerCase() !== "basic ") return undefined;
  const encoded = authorization.slice(6);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return undefined;
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}

/** The first `arvados_api_token` cookie, base64url-decoded (with padding, as Go's URLEncoding). */
function cookieToken(cookies: readonly string[]): string | undefined {
  for (const pair of cookies) {
    const eq = pair.indexOf("=");
    if (eq < 0 || pair.slice(0, eq).trim() !== "arvados_api_token") continue;
    const value = pair
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, "$1");
    if (value === "" || !/^[A-Za-z0-9_-]*={0,2}$/.test(value) || value.length % 4 !== 0) return undefined;
    return Buffer.from(value, "base64url").toString("utf8");
  }
  return undefined;
}

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest();

/**
 * Checks `tokens` against the ManagementToken: hashed first, so the buffers are of equal length
 * whatever was sent, then compared with timingSafeEqual; every token is compared, so the time
 * taken says nothing about which one matched.
 */
export function authorize(tokens: readonly string[], managementToken: string): AuthOutcome {
  if (tokens.length === 0) return "missing";
  const expected = digest(managementToken);
  let allowed = false;
  for (const token of tokens) allowed = timingSafeEqual(digest(token), expected) || allowed;
  return allowed ? "allowed" : "refused";
}
