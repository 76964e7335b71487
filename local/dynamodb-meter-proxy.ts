import { createServer, request, type Server } from "node:http";

/** What one caller consumed, as DynamoDB's replies report it. */
export interface DynamoDbUsage {
  requests: number;
  readCapacityUnits: number;
  writeCapacityUnits: number;
  /** Conditional writes whose condition failed: DynamoDB bills them as writes (counted here as 1 WCU each). */
  conditionalCheckFailures: number;
}

/** Operations that accept ReturnConsumedCapacity. */
const metered = new Set([
  "GetItem",
  "PutItem",
  "UpdateItem",
  "DeleteItem",
  "Query",
  "Scan",
  "BatchGetItem",
  "BatchWriteItem",
  "TransactGetItems",
  "TransactWriteItems",
]);
const writes = new Set(["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"]);

/**
 * A DynamoDbMeterProxy sits between the functions and DynamoDB Local and adds up the capacity
 * each caller consumed: it asks for `ReturnConsumedCapacity: TOTAL` on every request that takes
 * it and reads the reply's figures, so no code in lib/ keeps counters for a benchmark. Callers
 * are told apart by the SDK's user agent `app/<id>` (AWS_SDK_UA_APP_ID, which the local runner
 * sets to the function's name); anything else counts as "other". Loopback only.
 */
export class DynamoDbMeterProxy {
  readonly usage = new Map<string, DynamoDbUsage>();
  private server: Server | undefined;

  constructor(private readonly target: string) {}

  /** Listens on 127.0.0.1 (any free port); resolves to the endpoint URL. */
  async start(): Promise<string> {
    const target = new URL(this.target);
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const operation = String(req.headers["x-amz-target"] ?? "").split(".")[1] ?? "";
        const agent = `${req.headers["x-amz-user-agent"] ?? ""} ${req.headers["user-agent"] ?? ""}`;
        // Powertools appends its own marker to the app id (`<id>-PT-…`).
        const caller = /\bapp\/([\w.-]+)/.exec(agent)?.[1]?.replace(/-PT-.*$/, "") ?? "other";
        const usage = this.usage.get(caller) ?? {
          requests: 0,
          readCapacityUnits: 0,
          writeCapacityUnits: 0,
          conditionalCheckFailures: 0,
        };
        this.usage.set(caller, usage);
        usage.requests++;
        let body = Buffer.concat(chunks);
        if (metered.has(operation)) {
          try {
            body = Buffer.from(
              JSON.stringify({ ...JSON.parse(body.toString("utf8")), ReturnConsumedCapacity: "TOTAL" }),
            );
          } catch {
            // Not JSON: forwarded as it came.
          }
        }
        // DynamoDB Local does not check request signatures, so the body may change under one.
        const headers = { ...req.headers, "content-length": String(body.length) };
        const upstream = request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
          (reply) => {
            const out: Buffer[] = [];
            reply.on("data", (c: Buffer) => out.push(c));
            reply.on("end", () => {
              const text = Buffer.concat(out);
              this.account(usage, operation, reply.statusCode ?? 0, text.toString("utf8"));
              res.writeHead(reply.statusCode ?? 502, { ...reply.headers, "content-length": String(text.length) });
              res.end(text);
            });
          },
        );
        upstream.on("error", () => {
          res.writeHead(502);
          res.end();
        });
        upstream.end(body);
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    return `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private account(usage: DynamoDbUsage, operation: string, status: number, text: string): void {
    if (status !== 200) {
      if (text.includes("ConditionalCheckFailedException")) {
        usage.conditionalCheckFailures++;
        usage.writeCapacityUnits += 1;
      }
      return;
    }
    let consumed: unknown;
    try {
      consumed = (JSON.parse(text) as { ConsumedCapacity?: unknown }).ConsumedCapacity;
    } catch {
      return;
    }
    const units = [consumed ?? []]
      .flat()
      .reduce((sum: number, c) => sum + ((c as { CapacityUnits?: number }).CapacityUnits ?? 0), 0);
    if (writes.has(operation)) usage.writeCapacityUnits += units;
    else usage.readCapacityUnits += units;
  }
}
