/**
 * An InterceptProxy sits between the functions and one simulator (Arvados or EC2) and, for
 * requests a caller picks, plays the failures a simulator cannot produce on its own because
 * they happen on the caller's side of the wire: the calling Lambda dies before its request
 * leaves, dies after the server acted but before the reply arrives, dies just after the reply,
 * or the reply is lost on the way back. Everything else is forwarded untouched (the simulator's
 * own faults, resets included, pass through as they are). Loopback only.
 */
import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";

/** What happens to one request. */
export type Interception =
  /** Passed through untouched. */
  | "forward"
  /** The caller dies before the request leaves it: nothing reaches the server. */
  | "crash-before"
  /** The server acts on the request, then the caller dies before the reply reaches it. */
  | "crash-after-processing"
  /** The server acts on the request; the reply is lost (the connection drops); the caller lives on. */
  | "lose-reply"
  /** The reply is delivered, then the caller dies a moment later, wherever its next step has got to. */
  | "crash-after-reply";

/** A request as the proxy sees it, body included (EC2's Query protocol names its Action there). */
export interface InterceptedRequest {
  method: string;
  path: string;
  body: string;
}

/** The decision for one request: what happens, how to kill the caller, and when (crash-after-reply). */
export interface InterceptPlan {
  interception: Interception;
  crash?: () => void;
  /** For crash-after-reply: how long after delivery the caller dies. */
  delayMs?: number;
}

const forward: InterceptPlan = { interception: "forward" };
// Hop-by-hop headers describe the upstream connection, not the reply being relayed.
const hopByHop = new Set(["connection", "keep-alive", "transfer-encoding", "content-length"]);

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** InterceptProxy forwards to `target` and applies `decide`'s plan to each request. */
export class InterceptProxy {
  private server: Server | undefined;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });

  constructor(
    private readonly target: string,
    private readonly decide: (req: InterceptedRequest) => InterceptPlan = () => forward,
  ) {}

  /** Listens on 127.0.0.1:`port` (0 = any free port); resolves to the proxy's base URL. */
  async start(port = 0): Promise<string> {
    const server = createServer((req, res) => {
      this.serve(req, res).catch(() => req.socket.destroy());
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.agent.destroy();
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const plan = this.decide({ method: req.method ?? "GET", path: req.url ?? "/", body: body.toString("utf8") });
    if (plan.interception === "crash-before") {
      plan.crash?.();
      req.socket.destroy();
      return;
    }
    let reply: { status: number; headers: IncomingHttpHeaders; body: Buffer };
    try {
      reply = await this.relay(req, body);
    } catch {
      // The server dropped the connection (its own `reset` fault): so does the proxy.
      req.socket.destroy();
      return;
    }
    if (plan.interception === "crash-after-processing" || plan.interception === "lose-reply") {
      if (plan.interception === "crash-after-processing") plan.crash?.();
      req.socket.destroy();
      return;
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(reply.headers))
      if (value !== undefined && !hopByHop.has(name)) headers[name] = value;
    headers["content-length"] = String(reply.body.length);
    res.writeHead(reply.status, headers);
    res.end(reply.body);
    if (plan.interception === "crash-after-reply") {
      const crash = plan.crash;
      res.once("finish", () => setTimeout(() => crash?.(), plan.delayMs ?? 0));
    }
  }

  private relay(
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
    const target = new URL(this.target);
    return new Promise((resolve, reject) => {
      const upstream = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent: this.agent,
        },
        (reply) => {
          readBody(reply).then(
            (buffer) => resolve({ status: reply.statusCode ?? 502, headers: reply.headers, body: buffer }),
            reject,
          );
        },
      );
      upstream.on("error", reject);
      upstream.end(body);
    });
  }
}
