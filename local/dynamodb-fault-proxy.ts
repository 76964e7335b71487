import { createServer, request, type Server } from "node:http";

/** The DynamoDB errors the proxy can answer with instead of forwarding. */
export const dynamoDbFaults = {
  throttle: { status: 400, type: "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException" },
  requestLimit: { status: 400, type: "com.amazonaws.dynamodb.v20120810#RequestLimitExceeded" },
  throttling: { status: 400, type: "com.amazon.coral.availability#ThrottlingException" },
  internal: { status: 500, type: "com.amazonaws.dynamodb.v20120810#InternalServerError" },
} as const;
export type DynamoDbFaultKind = keyof typeof dynamoDbFaults;

/** How often each fault kind is injected, as a probability per request (0..1). */
export type DynamoDbFaultRates = Partial<Record<DynamoDbFaultKind, number>>;

/**
 * A DynamoDbFaultProxy sits between the SDK and DynamoDB Local (which never throttles on its
 * own) and fails a chosen share of requests the way DynamoDB does: throttling and internal errors
 * in DynamoDB's JSON error shape, without forwarding them, so the
 * failed request has no effect, exactly like the real service. `random` is injectable for
 * reproducible runs.
 */
export class DynamoDbFaultProxy {
  readonly injected: Record<DynamoDbFaultKind, number> = { throttle: 0, requestLimit: 0, throttling: 0, internal: 0 };
  forwarded = 0;
  /** Sees the body of every request the SDK sends, failed or forwarded (the soak scans them for the token). */
  observe: ((body: string) => void) | undefined;
  private server: Server | undefined;

  constructor(
    private readonly target: string,
    public rates: DynamoDbFaultRates = {},
    private readonly random: () => number = Math.random,
  ) {}

  /** Listens on 127.0.0.1:`port` (0 = any free port); resolves to the endpoint URL. */
  async start(port = 0): Promise<string> {
    const target = new URL(this.target);
    const server = createServer((req, res) => {
      const observe = this.observe;
      if (observe !== undefined) {
        const chunks: Buffer[] = [];
        req.on("data", (chunk: Buffer) => chunks.push(chunk));
        req.on("end", () => observe(Buffer.concat(chunks).toString("utf8")));
      }
      const fault = this.pickFault();
      if (fault !== undefined) {
        this.injected[fault]++;
        req.resume();
        const { status, type } = dynamoDbFaults[fault];
        res.writeHead(status, {
          "content-type": "application/x-amz-json-1.0",
          "x-amzn-requestid": `fault-${Date.now()}`,
        });
        res.end(JSON.stringify({ __type: type, message: `injected ${fault}` }));
        return;
      }
      this.forwarded++;
      const upstream = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (reply) => {
          res.writeHead(reply.statusCode ?? 502, reply.headers);
          reply.pipe(res);
        },
      );
      upstream.on("error", () => {
        res.writeHead(502);
        res.end();
      });
      req.pipe(upstream);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    const address = server.address();
    return `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private pickFault(): DynamoDbFaultKind | undefined {
    let roll = this.random();
    for (const [kind, rate] of Object.entries(this.rates) as [DynamoDbFaultKind, number][]) {
      if (roll < rate) return kind;
      roll -= rate;
    }
    return undefined;
  }
}
