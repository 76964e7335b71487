import { randomUUID } from "node:crypto";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type AttributeValue, type DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { ArvadosClient, type ArvadosClientOptions } from "../../lib/arvados/client.js";
import type { ContainerApi } from "../../lib/model/container-api.js";
import { type Transport, createNodeTransport } from "../../lib/arvados/transport.js";
import type { CleanupDeps } from "../../lib/cleanup/ports.js";
import type { ClusterConfig } from "../../lib/config/types.js";
import { Ec2InstanceCloud } from "../../lib/cloud/ec2-instance-cloud.js";
import type { LaunchDeps } from "../../lib/launch/ports.js";
import { ArvadosSimulator } from "../../local/arvados-sim/simulator.js";
import { Ec2Simulator } from "../../local/ec2-sim/simulator.js";
import { assignInstanceTypes } from "../../lib/queue/assign-types.js";
import { Queue, type UpdateReport } from "../../lib/queue/queue.js";
import { initialMaxContainers } from "../../lib/scheduler/max-containers.js";
import { dispatchState } from "../../lib/store/dispatch-state.js";
import type { DispatchState } from "../../lib/model/dispatch-state.js";
import { LaunchTokens } from "../../lib/store/launch-tokens.js";
import { QueueStore } from "../../lib/store/queue-store.js";
import type { SharedState } from "../../lib/store/shared-state.js";
import { testClusterConfig } from "./cluster-config.js";
import { freshQueueTable, localDynamoDb } from "./dynamodb.js";
import { localEc2Client } from "./ec2.js";
import { canarySecret } from "./hostile-text.js";

export { canarySecret, errorTexts, findSecret, rejectionOf, secretForms } from "./hostile-text.js";

/*
 * A dispatch harness for hostile-input and token-leak tests: like test/support/dispatch.ts, but
 * with a chosen root token secret, every Arvados request recorded as it left the client (URL,
 * headers, body), and an HTTP proxy in front of the EC2 simulator that records every raw EC2
 * request and can replace a reply with junk (the simulator itself only answers well-formed XML).
 */

/** One Arvados request as the client sent it. */
export interface WireRecord {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** Wraps the real node transport so every request is recorded before it is sent. */
export function recordingTransport(log: WireRecord[]): { send: Transport; close(): void } {
  const inner = createNodeTransport();
  return {
    send: (request) => {
      log.push({
        method: request.method,
        url: request.url.toString(),
        headers: { ...request.headers },
        body: request.body,
      });
      return inner.send(request);
    },
    close: inner.close,
  };
}

/** One raw EC2 Query-protocol request that reached the proxy, and what was answered. */
export interface Ec2WireRecord {
  action: string;
  url: string;
  headers: Record<string, string>;
  body: string;
  corrupted: boolean;
}

/**
 * A loopback proxy in front of the EC2 simulator. Every request is forwarded (so the simulator
 * acts on it) and recorded; `corruptReplies(action, body, count)` makes the next `count` replies
 * to `action` arrive as `body` instead of the simulator's XML.
 */
export class Ec2Proxy {
  readonly requests: Ec2WireRecord[] = [];
  #server: Server | undefined;
  #corrupt: { action: string; body: string; remaining: number }[] = [];

  constructor(private readonly target: string) {}

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      this.#serve(req, res).catch(() => res.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    this.#server = server;
    return this.url();
  }

  url(): string {
    const address = this.#server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error("Ec2Proxy not started");
    return `http://127.0.0.1:${address.port}`;
  }

  corruptReplies(action: string, body: string, count = 1): void {
    this.#corrupt.push({ action, body, remaining: count });
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const action =
      new URLSearchParams(body).get("Action") ?? new URL(req.url ?? "/", "http://x").searchParams.get("Action") ?? "";
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
    const upstream = await fetch(this.target + (req.url ?? "/"), {
      method: req.method ?? "POST",
      headers: { "content-type": headers["content-type"] ?? "application/x-www-form-urlencoded" },
      ...(req.method === "GET" || req.method === "HEAD" ? {} : { body }),
    });
    let text = await upstream.text();
    const rule = this.#corrupt.find((r) => r.action === action);
    if (rule !== undefined) {
      text = rule.body;
      rule.remaining--;
      if (rule.remaining <= 0) this.#corrupt.splice(this.#corrupt.indexOf(rule), 1);
    }
    this.requests.push({ action, url: req.url ?? "", headers, body, corrupted: rule !== undefined });
    res.writeHead(upstream.status, { "content-type": "text/xml;charset=UTF-8" });
    res.end(text);
  }
}

export interface HostileHarnessOptions {
  /** The simulator's root token secret (default: the canary). */
  rootTokenSecret?: string;
  /** YAML inserted under CloudVMs of the test config. */
  cloudVMsExtra?: string;
  clock?: () => Date;
}

/** Everything a hostile test pokes at. */
export interface HostileHarness {
  sim: ArvadosSimulator;
  ec2sim: Ec2Simulator;
  ec2proxy: Ec2Proxy;
  /** The dispatcher's client (root token), with short retries. */
  api: ArvadosClient;
  store: QueueStore;
  queue: Queue;
  tableName: string;
  ddb: DynamoDBClient;
  config: ClusterConfig;
  cloud: Ec2InstanceCloud;
  state: SharedState<DispatchState>;
  tokens: LaunchTokens;
  /** Every Arvados request made by any client this harness built. */
  arvadosWire: WireRecord[];
  /** Another client against the same simulator (recorded too); token defaults to the root token. */
  client(options?: Partial<ArvadosClientOptions>): ArvadosClient;
  /** Another Queue (another invocation) on the same table, over `api`. */
  queueFor(api: ContainerApi): Queue;
  /** One update as update-queue runs it: the lease is released afterwards, whatever happened. */
  update(queue?: Queue): Promise<UpdateReport>;
  launchDeps(): LaunchDeps;
  cleanupDeps(): CleanupDeps;
  /** Update, then choose types for every new entry, as update-queue and choose-instance-types would. */
  refresh(): Promise<void>;
  /** Every item of the table, unmarshalled, keyed by uuid. */
  rawItems(): Promise<Map<string, Record<string, unknown>>>;
  /**
   * The table as a failed update must leave it: every item except the update lease fields
   * (taking the lease is the one write an update makes before it polls).
   */
  snapshot(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function hostileHarness(options: HostileHarnessOptions = {}): Promise<HostileHarness> {
  const clock = options.clock ?? (() => new Date());
  const ddb = localDynamoDb();
  const table = await freshQueueTable(ddb);
  const sim = new ArvadosSimulator({ rootTokenSecret: options.rootTokenSecret ?? canarySecret });
  const simUrl = await sim.start(0);
  const ec2sim = new Ec2Simulator();
  const ec2proxy = new Ec2Proxy(await ec2sim.start(0));
  const ec2Url = await ec2proxy.start();
  const arvadosWire: WireRecord[] = [];
  const transports: { close(): void }[] = [];
  const client = (o: Partial<ArvadosClientOptions> = {}) => {
    const transport = recordingTransport(arvadosWire);
    transports.push(transport);
    return new ArvadosClient({
      apiHost: simUrl,
      token: sim.rootToken,
      retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 20 },
      ...o,
      transport: transport.send,
    });
  };
  const api = client();
  const store = new QueueStore(ddb, table.tableName);
  const queueFor = (a: ContainerApi) => new Queue(a, store, { leaseOwner: randomUUID(), leaseMs: 60_000, clock });
  const queue = queueFor(api);
  const config = testClusterConfig(options.cloudVMsExtra ?? "");
  const ec2 = localEc2Client(ec2Url);
  const cloud = new Ec2InstanceCloud({
    ec2,
    config,
    instanceSetId: sim.rootTokenUuid,
    tokenParameterName: "/arvados/test/token",
    region: "us-east-1",
    apiHost: "127.0.0.1:1",
  });
  const state = dispatchState(ddb, table.tableName, initialMaxContainers(config));
  const tokens = new LaunchTokens(ddb, table.tableName);

  const rawItems = async () => {
    const items = new Map<string, Record<string, unknown>>();
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await ddb.send(
        new ScanCommand({ TableName: table.tableName, ConsistentRead: true, ExclusiveStartKey: startKey }),
      );
      for (const item of page.Items ?? []) {
        const plain = unmarshall(item);
        items.set(String(plain.uuid), plain);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return items;
  };

  const h: HostileHarness = {
    sim,
    ec2sim,
    ec2proxy,
    api,
    store,
    queue,
    tableName: table.tableName,
    ddb,
    config,
    cloud,
    state,
    tokens,
    arvadosWire,
    client,
    queueFor,
    update: async (q = queue) => {
      try {
        return await q.update();
      } finally {
        await q.releaseUpdateLease();
      }
    },
    launchDeps: () => ({ ...h, owner: randomUUID(), now: () => clock().getTime() }),
    cleanupDeps: () => ({ ...h, now: () => clock().getTime() }),
    refresh: async () => {
      const report = await h.update();
      for (const entry of report.entries) {
        if (entry.instanceTypes === undefined) await assignInstanceTypes(entry.container.uuid, h);
      }
    },
    rawItems,
    snapshot: async () => {
      const out: Record<string, unknown> = {};
      for (const [uuid, item] of await rawItems()) {
        const { leaseOwner: _owner, leaseUntil: _until, ...rest } = item;
        out[uuid] = rest;
      }
      return out;
    },
    close: async () => {
      for (const t of transports) t.close();
      await ec2proxy.stop();
      await ec2sim.stop();
      await sim.stop();
      await table.drop();
    },
  };
  return h;
}
