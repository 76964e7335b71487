/**
 * A Lambda Function URL on loopback: each HTTP request becomes the event Lambda would build
 * (payload format 2.0: rawPath, rawQueryString, lower-case headers, cookies apart, the body as
 * text or base64) for the function, and its result the HTTP response, as Lambda's rules say: a
 * result with `statusCode` is taken as the response, anything else is a 200 JSON body; a failed
 * invocation is a 502, a request over Lambda's 6 MB payload limit a 413. Listens on 127.0.0.1
 * only.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { LambdaFunctionURLEvent } from "aws-lambda";

/** Lambda's synchronous invocation payload limit, which a Function URL request shares. */
export const maxPayloadBytes = 6 * 1024 * 1024;

/** Content types Lambda passes as text; any other body arrives base64-encoded. */
const textTypes = /^(text\/|application\/(json|x-www-form-urlencoded|xml|javascript)\b)/i;

/** The Function URL event for one HTTP request. */
export function functionUrlEvent(req: IncomingMessage, body: Buffer, now = new Date()): LambdaFunctionURLEvent {
  const url = new URL(req.url ?? "/", "http://localhost");
  const rawPath = (req.url ?? "/").split("?")[0] ?? "/";
  const rawQueryString = (req.url ?? "").includes("?") ? (req.url ?? "").slice((req.url ?? "").indexOf("?") + 1) : "";
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    const joined = Array.isArray(value) ? value.join(",") : value;
    if (name === "cookie") cookies = joined.split(/;\s*/).filter((c) => c !== "");
    else headers[name] = joined;
  }
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams)
    query[name] = query[name] === undefined ? value : `${query[name]},${value}`;
  const text = body.length === 0 || textTypes.test(headers["content-type"] ?? "");
  const requestId = randomUUID();
  const event: LambdaFunctionURLEvent = {
    version: "2.0",
    routeKey: "$default",
    rawPath,
    rawQueryString,
    headers,
    ...(cookies === undefined ? {} : { cookies }),
    ...(Object.keys(query).length === 0 ? {} : { queryStringParameters: query }),
    requestContext: {
      accountId: "anonymous",
      apiId: "local",
      domainName: headers.host ?? "127.0.0.1",
      domainPrefix: "local",
      http: {
        method: req.method ?? "GET",
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId,
      routeKey: "$default",
      stage: "$default",
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: !text,
    ...(body.length === 0 ? {} : { body: text ? body.toString("utf8") : body.toString("base64") }),
  };
  return event;
}

interface StructuredResult {
  statusCode: number;
  headers?: Record<string, string | number | boolean>;
  body?: string;
  isBase64Encoded?: boolean;
  cookies?: string[];
}

function isStructured(result: unknown): result is StructuredResult {
  return (
    typeof result === "object" && result !== null && typeof (result as { statusCode?: unknown }).statusCode === "number"
  );
}

function send(
  res: ServerResponse,
  status: number,
  headers: Record<string, string | number | boolean>,
  body: Buffer | string,
): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, String(value));
  res.end(body);
}

/** FunctionUrlServer serves one function's Function URL on 127.0.0.1. */
export class FunctionUrlServer {
  #server: Server | undefined;
  #url = "";

  constructor(private readonly invoke: (event: LambdaFunctionURLEvent) => Promise<unknown>) {}

  /** The URL, `http://127.0.0.1:<port>/` (a Function URL ends with a slash), once started. */
  get url(): string {
    return this.#url;
  }

  /** Listens on 127.0.0.1 (`port` 0: a free one); resolves with the URL. */
  async start(port = 0): Promise<string> {
    const server = createServer((req, res) => void this.serve(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    this.#server = server;
    this.#url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    return this.#url;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    try {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxPayloadBytes) tooLarge = true;
        else chunks.push(chunk);
      }
    } catch {
      res.destroy();
      return;
    }
    if (tooLarge) {
      send(res, 413, { "content-type": "application/json" }, JSON.stringify({ Message: "Request Entity Too Large" }));
      return;
    }
    let result: unknown;
    try {
      result = await this.invoke(functionUrlEvent(req, Buffer.concat(chunks)));
    } catch {
      send(res, 502, { "content-type": "application/json" }, JSON.stringify({ Message: "Internal Server Error" }));
      return;
    }
    if (!isStructured(result)) {
      send(res, 200, { "content-type": "application/json" }, JSON.stringify(result ?? null));
      return;
    }
    const body =
      result.body === undefined
        ? ""
        : result.isBase64Encoded === true
          ? Buffer.from(result.body, "base64")
          : result.body;
    if (result.cookies !== undefined && result.cookies.length > 0) res.setHeader("set-cookie", result.cookies);
    send(res, result.statusCode, result.headers ?? {}, body);
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
