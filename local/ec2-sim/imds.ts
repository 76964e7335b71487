import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { SimInstance } from "./model.js";

/** What IMDS serves of one instance: a view of the EC2 simulator's instance, read on every request. */
export type ImdsLookup = (instanceId: string) => Readonly<SimInstance> | undefined;

/** EC2's bounds on an IMDSv2 session token's lifetime, in seconds. */
const minTokenTtlSeconds = 1;
const maxTokenTtlSeconds = 21_600;

interface Session {
  instanceId: string;
  expiresAt: number;
}

/**
 * ImdsServer is the instance metadata service of every simulated instance, on loopback. On EC2
 * each instance reaches its own IMDS at 169.254.169.254; here instance `i-…` reaches it at
 * `endpointFor("i-…")` (`http://127.0.0.1:P/i-…`), the value to give a process as
 * `AWS_EC2_METADATA_SERVICE_ENDPOINT`, under which the usual paths follow (`/latest/…`).
 *
 * It answers as IMDS does for what the worker agent reads: IMDSv2 session tokens
 * (`PUT /latest/api/token` with a TTL header; a GET without a valid token is 401 when the
 * instance requires tokens), `meta-data/instance-id`, `ami-launch-index`, `local-ipv4`,
 * `instance-type`, `placement/availability-zone`, `user-data`, and `meta-data/tags/instance`
 * (the keys, one a line) and `…/tags/instance/<key>` when the instance's metadata options
 * enable tags. Everything is read from the EC2 simulator at request time, so CreateTags and
 * DeleteTags show at once. Only a running instance answers (no process runs on the others);
 * session lifetimes are wall-clock, as the processes reading them are real.
 */
export class ImdsServer {
  private server: Server | undefined;
  private readonly sessions = new Map<string, Session>();
  /** How many requests each instance made, for tests and the display. */
  readonly requests = new Map<string, number>();

  constructor(
    private readonly lookup: ImdsLookup,
    private readonly now: () => number = Date.now,
  ) {}

  /** Listen on 127.0.0.1:`port` (0 = any free port); resolves to the base URL. */
  async start(port = 0): Promise<string> {
    if (this.server) throw new Error("ImdsServer already started");
    const server = createServer((req, res) => this.serve(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    return this.url();
  }

  /** The base URL; throws before start(). */
  url(): string {
    const addr = this.server?.address() as AddressInfo | null | undefined;
    if (!addr) throw new Error("ImdsServer not started");
    return `http://127.0.0.1:${addr.port}`;
  }

  /** The IMDS endpoint instance `instanceId` sees (its `AWS_EC2_METADATA_SERVICE_ENDPOINT`). */
  endpointFor(instanceId: string): string {
    return `${this.url()}/${instanceId}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    // Drain any body: IMDS requests carry none that matters.
    req.resume();
    const [status, body] = this.answer(req);
    res.writeHead(status, { "content-type": "text/plain" });
    res.end(body);
  }

  /** The status and body IMDS answers `req` with. */
  private answer(req: IncomingMessage): [number, string] {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const [, instanceId = "", ...rest] = url.pathname.split("/");
    const path = rest.map(decodeURIComponent).join("/");
    const instance = this.lookup(instanceId);
    if (
      instance === undefined ||
      instance.state !== "running" ||
      instance.metadataOptions.httpEndpoint === "disabled"
    ) {
      return [404, "Not Found"];
    }
    this.requests.set(instanceId, (this.requests.get(instanceId) ?? 0) + 1);
    if (path === "latest/api/token") {
      if (req.method !== "PUT") return [405, "Method Not Allowed"];
      const ttl = Number(req.headers["x-aws-ec2-metadata-token-ttl-seconds"]);
      if (!Number.isInteger(ttl) || ttl < minTokenTtlSeconds || ttl > maxTokenTtlSeconds) return [400, "Bad Request"];
      const token = randomBytes(32).toString("base64");
      this.sessions.set(token, { instanceId, expiresAt: this.now() + ttl * 1000 });
      return [200, token];
    }
    if (req.method !== "GET" && req.method !== "HEAD") return [405, "Method Not Allowed"];
    const token = req.headers["x-aws-ec2-metadata-token"];
    if (typeof token === "string") {
      const session = this.sessions.get(token);
      if (session === undefined || session.instanceId !== instanceId || session.expiresAt <= this.now())
        return [401, "Unauthorized"];
    } else if (instance.metadataOptions.httpTokens === "required") {
      return [401, "Unauthorized"];
    }
    const value = metadata(instance, path);
    return value === undefined ? [404, "Not Found"] : [200, value];
  }
}

/** The value at `path` (under the version, e.g. `latest/meta-data/instance-id`), or undefined for 404. */
function metadata(i: Readonly<SimInstance>, path: string): string | undefined {
  const tagsEnabled = i.metadataOptions.instanceMetadataTags === "enabled";
  switch (path) {
    case "latest/meta-data/instance-id":
      return i.instanceId;
    case "latest/meta-data/ami-launch-index":
      return String(i.amiLaunchIndex ?? 0);
    case "latest/meta-data/local-ipv4":
      return i.privateIp;
    case "latest/meta-data/instance-type":
      return i.instanceType;
    case "latest/meta-data/placement/availability-zone":
      return i.availabilityZone;
    case "latest/user-data":
      return i.userData;
    case "latest/meta-data/tags/instance":
    case "latest/meta-data/tags/instance/": {
      const keys = Object.keys(i.tags);
      return tagsEnabled && keys.length > 0 ? keys.join("\n") : undefined;
    }
  }
  const tagPrefix = "latest/meta-data/tags/instance/";
  if (tagsEnabled && path.startsWith(tagPrefix)) {
    const key = path.slice(tagPrefix.length);
    return Object.hasOwn(i.tags, key) ? i.tags[key] : undefined;
  }
  return undefined;
}
