/**
 * A Lambda Function URL request (API Gateway payload format 2.0) as an ApiRequest, and an
 * ApiResponse as the result Lambda turns back into HTTP. Header names arrive in lower case,
 * cookies in their own list, the body as text or base64 (`isBase64Encoded`).
 */
import type { LambdaFunctionURLEvent, LambdaFunctionURLResult } from "aws-lambda";
import type { ApiRequest, ApiResponse } from "./http.js";

export function requestFromFunctionUrlEvent(event: LambdaFunctionURLEvent): ApiRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {}))
    if (value !== undefined) headers[name.toLowerCase()] = value;
  const body = event.body ?? "";
  return {
    method: event.requestContext?.http?.method ?? "GET",
    rawPath: event.rawPath ?? "/",
    rawQuery: event.rawQueryString ?? "",
    headers,
    cookies: event.cookies ?? [],
    body: Buffer.from(body, event.isBase64Encoded ? "base64" : "utf8"),
  };
}

export function functionUrlResult(response: ApiResponse): LambdaFunctionURLResult {
  return { statusCode: response.status, headers: response.headers, body: response.body, isBase64Encoded: false };
}
