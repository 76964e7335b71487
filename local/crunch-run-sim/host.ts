/**
 * The crunch-run simulator: the processes crunch-run would run on each simulated instance, kept
 * in one place so that hundreds of instances cost a map entry each, not a process each. The
 * `crunch-run` script beside this file is what the agent runs; it forwards upstream's command
 * line here over loopback HTTP. A started container drives the Arvados simulator over its HTTP
 * API with the token from its stdin config, as the real crunch-run does: Locked → Running, then
 * after its runtime → Complete with its exit code; a kill (SIGTERM) cancels it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

/** The directory holding the `crunch-run` script: put it first on the agent's PATH. */
export const crunchRunSimBinDir = fileURLToPath(new URL(".", import.meta.url));

/** How long a container runs and how it exits. */
export interface ContainerPlan {
  runtimeMs: number;
  exitCode: number;
}

/** Options of a CrunchRunSim. */
export interface CrunchRunSimOptions {
  /** Runtime and exit code of each container (default: `defaultRuntimeMs`, exit 0). */
  plan?: (uuid: string) => ContainerPlan | undefined;
  defaultRuntimeMs?: number;
  /** Whether the node (instance) still exists; processes on a node that is gone vanish. */
  nodeAlive?: (node: string) => boolean;
  /** How often a running container checks that it is still Running in Arvados. */
  checkMs?: number;
  /**
   * The container's lock as Arvados holds it (its lock_count) when crunch-run starts: recorded
   * with each start, so a soak can tell two crunch-runs of one lock from a retry after a re-lock.
   */
  lockOf?: (uuid: string) => number | undefined;
}

/**
 * One crunch-run process as it ran, kept after it ended: what a soak checks the workers against
 * (at most one per container lock; a worker's busy and idle time).
 */
export interface CrunchRunRecord {
  node: string;
  uuid: string;
  /** The container's lock_count when it started (undefined without `lockOf`). */
  lock: number | undefined;
  /** Epoch ms of the `--detach` that started it. */
  startedAt: number;
  /** Epoch ms it ended, once it has. */
  endedAt?: number;
  /** `exited` by itself (done, killed, refused by the API); `vanished` with its node. */
  end?: "exited" | "vanished";
}

/** What every crunch-run did, for tests and the display. */
export interface CrunchRunSimStats {
  started: number;
  completed: number;
  cancelled: number;
  /** crunch-run could not move the container to Running (not Locked, wrong token, …). */
  failedToStart: number;
  /** A detach refused because crunch-run already runs that container there (upstream's lock). */
  refused: number;
}

type Phase = "starting" | "running" | "stopping" | "exited";

/** One simulated crunch-run process. */
interface Proc {
  uuid: string;
  pid: number;
  phase: Phase;
  apiBase: string;
  token: string;
  /** Resolves the runtime wait early (kill). */
  wake: () => void;
  /** Sent SIGTERM (`--kill`). */
  killed: boolean;
  /** Its node is gone, or the simulator stopped: it makes no further calls. */
  vanished: boolean;
  record: CrunchRunRecord;
}

const uuidPattern = /^[a-z0-9]{5}-dz642-[a-z0-9]{15}$/;

/** A request the simulated crunch-run refuses, with the status the shim turns into exit 1. */
class CrunchRunRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * CrunchRunSim serves every node's crunch-run at `urlFor(node)` (the node is the instance id;
 * give it to the agent as `CRUNCH_RUN_SIM_URL`). Per node, like upstream's lock files, at most one
 * process per container uuid is alive; a finished one is no longer listed.
 */
export class CrunchRunSim {
  readonly stats: CrunchRunSimStats = { started: 0, completed: 0, cancelled: 0, failedToStart: 0, refused: 0 };
  private server: Server | undefined;
  private readonly nodes = new Map<string, Map<string, Proc>>();
  private readonly broken = new Set<string>();
  private nextPid = 1000;
  private readonly work = new Set<Promise<void>>();
  private readonly records: CrunchRunRecord[] = [];
  private readonly nodesRan = new Set<string>();

  constructor(private readonly options: CrunchRunSimOptions = {}) {}

  /** Whether a crunch-run ever started on `node`. */
  ranOn(node: string): boolean {
    return this.nodesRan.has(node);
  }

  /** Every crunch-run started so far, in start order (copies). */
  history(): CrunchRunRecord[] {
    return this.records.map((r) => ({ ...r }));
  }

  /** Listen on 127.0.0.1:`port` (0 = any free port); resolves to the base URL. */
  async start(port = 0): Promise<string> {
    if (this.server) throw new Error("CrunchRunSim already started");
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

  url(): string {
    const addr = this.server?.address() as AddressInfo | null | undefined;
    if (!addr) throw new Error("CrunchRunSim not started");
    return `http://127.0.0.1:${addr.port}`;
  }

  /** The `CRUNCH_RUN_SIM_URL` of node `node`. */
  urlFor(node: string): string {
    return `${this.url()}/${node}`;
  }

  /** Stop listening; running containers stop where they are (no further API calls). */
  async stop(): Promise<void> {
    for (const procs of this.nodes.values()) for (const p of procs.values()) this.vanish(p);
    await Promise.allSettled([...this.work]);
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** The containers crunch-run runs on `node` (what `--list` prints, but `broken`). */
  running(node: string): string[] {
    return [...(this.nodes.get(node)?.values() ?? [])].filter((p) => p.phase !== "exited").map((p) => p.uuid);
  }

  /** Make `--list` on `node` report `broken` (upstream's crunch-run-broken marker). */
  markBroken(node: string): void {
    this.broken.add(node);
  }

  /** The node is gone (its instance terminated): its processes vanish without a word to Arvados. */
  dropNode(node: string): void {
    for (const p of this.nodes.get(node)?.values() ?? []) this.vanish(p);
    this.nodes.delete(node);
    this.broken.delete(node);
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    let status = 200;
    let text: string;
    try {
      text = await this.answer(req.method ?? "GET", new URL(req.url ?? "/", "http://127.0.0.1"), body);
    } catch (err) {
      if (!(err instanceof CrunchRunRefusal)) throw err;
      status = err.status;
      text = err.message;
    }
    res.writeHead(status, { "content-type": "text/plain" });
    res.end(text);
  }

  /** What crunch-run prints for one command; throws CrunchRunRefusal for what makes it exit 1. */
  private async answer(method: string, url: URL, body: string): Promise<string> {
    const [, node = "", verb = ""] = url.pathname.split("/");
    if (node === "" || (this.options.nodeAlive !== undefined && !this.options.nodeAlive(node)))
      throw new CrunchRunRefusal(404, `no such node ${node}`);
    if (verb === "list" && method === "GET") return this.list(node);
    const uuid = url.searchParams.get("uuid") ?? "";
    if (!uuidPattern.test(uuid))
      throw new CrunchRunRefusal(400, `missing required argument: container-uuid (got ${JSON.stringify(uuid)})`);
    if (verb === "detach" && method === "POST") return this.detach(node, uuid, body);
    if (verb === "kill" && method === "POST") return this.kill(node, uuid);
    throw new CrunchRunRefusal(404, `unknown request ${method} ${verb}`);
  }

  /** `--list`: one uuid a line, `broken` first if the node is marked. */
  private list(node: string): string {
    return [...(this.broken.has(node) ? ["broken"] : []), ...this.running(node)].join("\n");
  }

  /** `--detach --stdin-config`: start the container's crunch-run, unless one already runs it here. */
  private detach(node: string, uuid: string, stdinConfig: string): string {
    const procs = this.nodes.get(node) ?? new Map<string, Proc>();
    this.nodes.set(node, procs);
    const existing = procs.get(uuid);
    if (existing !== undefined && existing.phase !== "exited") {
      this.stats.refused++;
      throw new CrunchRunRefusal(409, `lock /var/lock/crunch-run-${uuid}.lock: resource temporarily unavailable`);
    }
    const { apiBase, token } = parseStdinConfig(stdinConfig);
    let wake = () => {};
    const record: CrunchRunRecord = { node, uuid, lock: this.options.lockOf?.(uuid), startedAt: Date.now() };
    this.records.push(record);
    this.nodesRan.add(node);
    const proc: Proc = {
      uuid,
      pid: this.nextPid++,
      phase: "starting",
      apiBase,
      token,
      wake: () => wake(),
      killed: false,
      vanished: false,
      record,
    };
    const woken = new Promise<void>((resolve) => {
      wake = resolve;
    });
    procs.set(uuid, proc);
    const run = this.run(proc, woken).finally(() => {
      proc.phase = "exited";
      ended(record, "exited");
      this.work.delete(run);
    });
    this.work.add(run);
    return JSON.stringify({ UUID: uuid, PID: proc.pid });
  }

  /** `--kill <signal>`: SIGTERM to the container's crunch-run, then wait (upstream: up to 1 s) for it to end. */
  private async kill(node: string, uuid: string): Promise<string> {
    const proc = this.nodes.get(node)?.get(uuid);
    if (proc === undefined || proc.phase === "exited") return "";
    proc.killed = true;
    proc.wake();
    const deadline = Date.now() + 1000;
    // The process ends on its own time (its last API call): read its phase afresh after each wait.
    const alive = () => proc.phase !== ("exited" as Phase);
    while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (alive())
      throw new CrunchRunRefusal(
        500,
        `${uuid}: pid ${proc.pid}: sent signal 15 (terminated) but process is still alive`,
      );
    return `${uuid}: pid ${proc.pid}: process already finished`;
  }

  /** The life of one crunch-run: Running, its runtime (checking it stays Running), then Complete or Cancelled. */
  private async run(proc: Proc, woken: Promise<void>): Promise<void> {
    const started = await this.update(proc, { state: "Running" });
    if (proc.vanished) return;
    if (!started) {
      this.stats.failedToStart++;
      return;
    }
    proc.phase = "running";
    this.stats.started++;
    const plan = this.options.plan?.(proc.uuid) ?? { runtimeMs: this.options.defaultRuntimeMs ?? 1000, exitCode: 0 };
    const endAt = Date.now() + plan.runtimeMs;
    const checkMs = this.options.checkMs ?? 1000;
    while (!proc.killed && Date.now() < endAt) {
      await Promise.race([woken, new Promise((r) => setTimeout(r, Math.min(checkMs, endAt - Date.now())))]);
      if (proc.vanished) return;
      if (proc.killed || Date.now() >= endAt) break;
      // Cancelled from outside (an admin, the API server): crunch-run stops the container.
      if ((await this.state(proc)) !== "Running") return;
    }
    if (proc.vanished) return;
    proc.phase = "stopping";
    if (proc.killed) {
      if (await this.update(proc, { state: "Cancelled" })) this.stats.cancelled++;
      return;
    }
    if (await this.update(proc, { state: "Complete", exit_code: plan.exitCode })) this.stats.completed++;
  }

  /** A process whose node is gone: it stops without a word to Arvados. */
  private vanish(p: Proc): void {
    if (p.phase !== "exited") ended(p.record, "vanished");
    p.vanished = true;
    p.phase = "exited";
    p.wake();
  }

  /** PUT the container as crunch-run does; false if the API refused. */
  private async update(proc: Proc, attrs: Record<string, unknown>): Promise<boolean> {
    const res = await fetch(`${proc.apiBase}/arvados/v1/containers/${proc.uuid}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${proc.token}`, "content-type": "application/json" },
      body: JSON.stringify({ container: attrs }),
    }).catch(() => undefined);
    await res?.arrayBuffer();
    return res?.ok === true;
  }

  private async state(proc: Proc): Promise<string | undefined> {
    const res = await fetch(
      `${proc.apiBase}/arvados/v1/containers/${proc.uuid}?select=${encodeURIComponent('["state"]')}`,
      {
        headers: { authorization: `Bearer ${proc.token}` },
      },
    ).catch(() => undefined);
    if (res?.ok !== true) return undefined;
    const body = (await res.json()) as { state?: unknown };
    return typeof body.state === "string" ? body.state : undefined;
  }
}

function ended(record: CrunchRunRecord, how: NonNullable<CrunchRunRecord["end"]>): void {
  if (record.endedAt !== undefined) return;
  record.endedAt = Date.now();
  record.end = how;
}

/** The API base URL and token from §4.1's stdin config (`{"Env":{"ARVADOS_API_HOST":…,"ARVADOS_API_TOKEN":…}}`). */
export function parseStdinConfig(text: string): { apiBase: string; token: string } {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    throw new CrunchRunRefusal(400, "decode stdin: not JSON");
  }
  const env = (config as { Env?: Record<string, unknown> } | null)?.Env;
  const host = env?.ARVADOS_API_HOST;
  const token = env?.ARVADOS_API_TOKEN;
  if (typeof host !== "string" || host === "" || typeof token !== "string" || token === "") {
    throw new CrunchRunRefusal(400, "stdin config: Env needs ARVADOS_API_HOST and ARVADOS_API_TOKEN");
  }
  // ARVADOS_API_HOST is host[:port] for the SDKs (https); a full URL is taken as it is (the local http simulator).
  const apiBase = /^https?:\/\//.test(host) ? host.replace(/\/+$/, "") : `https://${host}`;
  return { apiBase, token };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
