import { describe, expect, it } from "vitest";
import { authorize, requestTokens } from "../../lib/dispatch-api/auth.js";
import type { ApiRequest } from "../../lib/dispatch-api/http.js";

/** A GET with the given headers, query and cookies. */
function request(parts: { headers?: Record<string, string>; query?: string; cookies?: string[] } = {}): ApiRequest {
  return {
    method: "GET",
    rawPath: "/",
    rawQuery: parts.query ?? "",
    headers: parts.headers ?? {},
    cookies: parts.cookies ?? [],
    body: Buffer.alloc(0),
  };
}

const token = "v2/zzzzz-gj3su-000000000000000/managementtokensecret";

describe("a token is read wherever upstream's LoadTokensFromHTTPRequest looks", () => {
  it("reads `Authorization: Bearer <token>`, the controller's form, trimmed", () => {
    expect(requestTokens(request({ headers: { authorization: `Bearer ${token}` } }))).toEqual([token]);
    expect(requestTokens(request({ headers: { authorization: `Bearer   ${token}  ` } }))).toEqual([token]);
  });

  it("reads the pre-3.0 `OAuth2 <token>` form", () => {
    expect(requestTokens(request({ headers: { authorization: `OAuth2 ${token}` } }))).toEqual([token]);
  });

  it("takes the scheme as written: `bearer` and a bare `Bearer` carry no token", () => {
    expect(requestTokens(request({ headers: { authorization: `bearer ${token}` } }))).toEqual([]);
    expect(requestTokens(request({ headers: { authorization: "Bearer" } }))).toEqual([]);
  });

  it("reads a Basic password (any user)", () => {
    const basic = Buffer.from(`anyone:${token}`).toString("base64");
    expect(requestTokens(request({ headers: { authorization: `Basic ${basic}` } }))).toEqual([token]);
    expect(requestTokens(request({ headers: { authorization: "Basic !!not-base64!!" } }))).toEqual([]);
  });

  it("reads every api_token query parameter", () => {
    expect(requestTokens(request({ query: `api_token=a&x=1&api_token=${encodeURIComponent(token)}` }))).toEqual([
      "a",
      token,
    ]);
  });

  it("reads the arvados_api_token cookie, base64url-encoded", () => {
    const cookie = `arvados_api_token=${Buffer.from(token)
      .toString("base64url")
      .padEnd(Math.ceil(token.length / 3) * 4, "=")}`;
    expect(requestTokens(request({ cookies: ["other=1", cookie] }))).toEqual([token]);
    expect(requestTokens(request({ cookies: ["arvados_api_token=%%%"] }))).toEqual([]);
  });

  it("finds none in a request that carries none", () => {
    expect(requestTokens(request())).toEqual([]);
  });
});

describe("only the literal ManagementToken is accepted (upstream RequireLiteralToken)", () => {
  it("no token at all is 'missing' (401)", () => {
    expect(authorize([], token)).toBe("missing");
  });

  it("the exact token is allowed, among others too", () => {
    expect(authorize([token], token)).toBe("allowed");
    expect(authorize(["wrong", token], token)).toBe("allowed");
  });

  it("anything else is refused (403): another token, a prefix, an extension, a case change, the empty string", () => {
    for (const wrong of ["wrong", token.slice(0, -1), `${token}x`, token.toUpperCase(), "", "x".repeat(100_000)]) {
      expect(authorize([wrong], token), wrong.slice(0, 20)).toBe("refused");
    }
  });
});
