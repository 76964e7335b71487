import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { handleAction } from "./actions.js";
import { handleControl } from "./control-api.js";
import type { FaultSpec, RegisteredFault } from "./faults.js";
import { stateReasons } from "./lifecycle.js";
import { Ec2SimError, type SimInstance } from "./model.js";
import { QueryParams } from "./query-params.js";
import type { LoggedRequest } from "./request-log.js";
import { type Ec2SimulatorOptions, type SimStats, SimState } from "./sim-state.js";
import { errorDocument } from "./xml.js";

/**
 * Ec2Simulator is a local EC2 endpoint speaking the Query protocol (RunInstances,
 * DescribeInstances, TerminateInstances, CreateTags, DeleteTags) with EC2's XML replies, for the real
 * `@aws-sdk/client-ec2` pointed at `start()`'s URL. It listens on 127.0.0.1 only.
 *
 * Controls (methods here, or JSON under `/_sim/`) let tests inject faults, move instances
 * through their lifecycle and read what was asked. Every call is answered synchronously from
 * memory, so the state a control reads is the state after every reply already sent.
 */
export class Ec2Simulator {
  private readonly state: SimState;
  private server: Server | undefined;

  constructor(options: Ec2SimulatorOptions = {}) {
    this.state = new SimState(options);
  }

  /** Listen on 127.0.0.1:`port` (0 = any free port); resolves to the base URL. */
  async start(port = 0): Promise<string> {
    if (this.server) throw new Error("Ec2Simulator already started");
    const server = createServer((req, res) => {
      this.serve(req, res).catch((err: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(err instanceof Error ? err.message : String(err));
      });
    });
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
    if (!addr) throw new Error("Ec2Simulator not started");
    return `http://127.0.0.1:${addr.port}`;
  }

  /** Stop listening and drop open connections (the SDK keeps connections alive). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** A copy of every instance still visible on EC2 (including recently terminated), in launch order. */
  instances(): SimInstance[] {
    return structuredClone(this.state.lifecycle.all());
  }

  /**
   * Copies of the visible instances `keep` accepts, in launch order. For watchers that poll
   * several times a second: terminated instances stay visible for an hour, as on EC2, and a long
   * run would otherwise copy thousands of them on every look.
   */
  instancesWhere(keep: (instance: Readonly<SimInstance>) => boolean): SimInstance[] {
    return structuredClone(this.state.lifecycle.all().filter(keep));
  }

  /** EC2's billed time of one instance (running until shutting-down), in sim-clock ms. */
  billedMs(id: string): number {
    return this.state.lifecycle.billedMs(id);
  }

  /** A copy of one instance, or undefined. */
  instance(id: string): SimInstance | undefined {
    const i = this.state.lifecycle.get(id);
    return i ? structuredClone(i) : undefined;
  }

  /** How many RunInstances calls arrived, whatever their outcome. */
  runInstancesCalls(): number {
    return this.state.stats.runInstancesCalls;
  }

  stats(): SimStats {
    return structuredClone(this.state.stats);
  }

  /** The recent calls, oldest first, user data and secret tag values redacted. */
  requests(): LoggedRequest[] {
    return this.state.log.list();
  }

  /** The logged calls after call `seq` (see `LoggedRequest.seq`). */
  requestsSince(seq: number): LoggedRequest[] {
    return this.state.log.since(seq);
  }

  /** Make matching calls fail with an EC2 error; returns the fault's id. */
  injectFault(spec: FaultSpec): number {
    return this.state.faults.add(spec);
  }

  removeFault(id: number): boolean {
    return this.state.faults.remove(id);
  }

  clearFaults(): void {
    this.state.faults.clear();
  }

  faults(): RegisteredFault[] {
    return this.state.faults.list();
  }

  /** Complete every pending transition now (pending → running, shutting-down → terminated, ...). */
  tick(): void {
    this.state.lifecycle.settle("tick");
  }

  /** Move the sim clock forward, then apply the transitions that became due. */
  advance(ms: number): void {
    this.state.advance(ms);
    this.state.lifecycle.settle("request");
  }

  /**
   * Make DescribeInstances lag `ms` behind (EC2's eventual consistency): new instances and state
   * changes show only that long after they happen; RunInstances idempotency, TerminateInstances
   * and these controls still see every instance as it is. 0 turns the lag off.
   */
  setListingLag(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`listing lag must be a number of ms >= 0, not ${ms}`);
    this.state.listingLagMs = ms;
  }

  /** The current listing lag, ms. */
  listingLag(): number {
    return this.state.listingLagMs;
  }

  /** The sim clock, ms. */
  now(): number {
    return this.state.now();
  }

  /** EC2 reclaims a spot instance: it shuts down and terminates (Server.SpotInstanceTermination). */
  interruptSpot(instanceId: string): void {
    const i = this.state.lifecycle.require(instanceId);
    if (i.market !== "spot") throw new Ec2SimError("IncorrectInstanceState", `${instanceId} is not a spot instance`);
    this.state.lifecycle.terminate(i, stateReasons.spotInterruption);
  }

  /** The instance dies unexpectedly: terminated at once (Server.InternalError). */
  killInstance(instanceId: string): void {
    this.state.lifecycle.kill(this.state.lifecycle.require(instanceId));
  }

  /** The instance powers itself off (e.g. its boot script gave up): terminates or stops per its shutdown behaviour. */
  shutdownFromInstance(instanceId: string): void {
    this.state.lifecycle.shutdownFromInside(this.state.lifecycle.require(instanceId));
  }

  /** Forget every instance, token, fault, log entry and counter. */
  reset(): void {
    this.state.reset();
  }

  /** Answer one Query-protocol call in process (what the HTTP server does for each request). */
  call(q: QueryParams): { status: number; body: string } {
    const action = q.get("Action") ?? "";
    const entry = this.state.log.add(action, q);
    this.state.stats.calls[action] = (this.state.stats.calls[action] ?? 0) + 1;
    const requestId = this.state.nextRequestId();
    try {
      return { status: 200, body: handleAction(this.state, q, requestId) };
    } catch (err) {
      if (!(err instanceof Ec2SimError)) throw err;
      entry.error = err.code;
      return { status: err.status, body: errorDocument(err.code, err.message, requestId) };
    }
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname.startsWith("/_sim/")) {
      const reply = handleControl(this, req.method ?? "GET", url.pathname, body);
      res.writeHead(reply.status, { "content-type": "application/json" });
      res.end(JSON.stringify(reply.json));
      return;
    }
    const reply = this.call(QueryParams.parse(body, url.search));
    res.writeHead(reply.status, { "content-type": "text/xml;charset=UTF-8" });
    res.end(reply.body);
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
