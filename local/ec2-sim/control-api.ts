import type { FaultSpec, RegisteredFault } from "./faults.js";
import { Ec2SimError, type SimInstance } from "./model.js";
import type { LoggedRequest } from "./request-log.js";
import type { SimStats } from "./sim-state.js";

/** A JSON reply of the control API. */
export interface ControlReply {
  status: number;
  json: unknown;
}

function parseJson(body: string): Record<string, unknown> {
  if (body.trim() === "") return {};
  const v: unknown = JSON.parse(body);
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new SyntaxError("expected a JSON object");
  return v as Record<string, unknown>;
}

function faultSpec(b: Record<string, unknown>): FaultSpec {
  if (typeof b.code !== "string" || b.code === "") throw new SyntaxError("a fault needs a string 'code'");
  const spec: FaultSpec = { code: b.code };
  for (const k of ["message", "action", "instanceType", "subnetId"] as const) {
    const v = b[k];
    if (typeof v === "string") spec[k] = v;
  }
  if (typeof b.status === "number") spec.status = b.status;
  if (typeof b.times === "number") spec.times = b.times;
  return spec;
}

const instanceAction = /^\/_sim\/instances\/([^/]+)\/(interrupt|kill|shutdown)$/;
const faultById = /^\/_sim\/faults\/(\d+)$/;

/** The simulator as its control API drives it: the Ec2Simulator methods of the table below. */
export interface ControlledSimulator {
  instances(): SimInstance[];
  instance(id: string): SimInstance | undefined;
  stats(): SimStats;
  requests(): LoggedRequest[];
  faults(): RegisteredFault[];
  injectFault(spec: FaultSpec): number;
  removeFault(id: number): boolean;
  clearFaults(): void;
  tick(): void;
  advance(ms: number): void;
  now(): number;
  listingLag(): number;
  setListingLag(ms: number): void;
  interruptSpot(instanceId: string): void;
  killInstance(instanceId: string): void;
  shutdownFromInstance(instanceId: string): void;
  reset(): void;
}

/**
 * The simulator's JSON control API, the same controls as the Ec2Simulator methods:
 *
 * | method, path | does |
 * |---|---|
 * | GET /_sim/instances | every visible instance |
 * | GET /_sim/stats | counters (runInstancesCalls, instancesLaunched, throttled, calls) |
 * | GET /_sim/requests | the request log |
 * | GET, POST, DELETE /_sim/faults | list, add (`FaultSpec` body → `{id}`), clear |
 * | DELETE /_sim/faults/:id | remove one fault |
 * | POST /_sim/tick | complete pending transitions |
 * | POST /_sim/advance `{ms}` | move the sim clock |
 * | GET, POST /_sim/listing-lag `{ms}` | read, set how far DescribeInstances lags behind |
 * | POST /_sim/instances/:id/interrupt, kill, shutdown | spot interruption, sudden death, shutdown from inside |
 * | POST /_sim/reset | forget everything |
 */
export function handleControl(sim: ControlledSimulator, method: string, path: string, body: string): ControlReply {
  try {
    return route(sim, method, path, body);
  } catch (err) {
    if (err instanceof Ec2SimError) return { status: 404, json: { error: err.code, message: err.message } };
    if (err instanceof SyntaxError) return { status: 400, json: { error: "BadRequest", message: err.message } };
    throw err;
  }
}

function route(sim: ControlledSimulator, method: string, path: string, body: string): ControlReply {
  const key = `${method} ${path}`;
  switch (key) {
    case "GET /_sim/instances":
      return { status: 200, json: sim.instances() };
    case "GET /_sim/stats":
      return { status: 200, json: sim.stats() };
    case "GET /_sim/requests":
      return { status: 200, json: sim.requests() };
    case "GET /_sim/faults":
      return { status: 200, json: sim.faults() };
    case "POST /_sim/faults":
      return { status: 200, json: { id: sim.injectFault(faultSpec(parseJson(body))) } };
    case "DELETE /_sim/faults":
      sim.clearFaults();
      return { status: 200, json: {} };
    case "POST /_sim/tick":
      sim.tick();
      return { status: 200, json: {} };
    case "POST /_sim/advance": {
      const ms = parseJson(body).ms;
      if (typeof ms !== "number" || !(ms >= 0)) throw new SyntaxError("advance needs a number 'ms' >= 0");
      sim.advance(ms);
      return { status: 200, json: { now: sim.now() } };
    }
    case "GET /_sim/listing-lag":
      return { status: 200, json: { ms: sim.listingLag() } };
    case "POST /_sim/listing-lag": {
      const ms = parseJson(body).ms;
      if (typeof ms !== "number" || !(ms >= 0) || !Number.isFinite(ms))
        throw new SyntaxError("listing-lag needs a number 'ms' >= 0");
      sim.setListingLag(ms);
      return { status: 200, json: { ms } };
    }
    case "POST /_sim/reset":
      sim.reset();
      return { status: 200, json: {} };
  }
  const fault = faultById.exec(path);
  if (fault?.[1] !== undefined && method === "DELETE") {
    return { status: sim.removeFault(Number(fault[1])) ? 200 : 404, json: {} };
  }
  const m = instanceAction.exec(path);
  if (m?.[1] !== undefined && method === "POST") {
    const id = decodeURIComponent(m[1]);
    if (m[2] === "interrupt") sim.interruptSpot(id);
    else if (m[2] === "kill") sim.killInstance(id);
    else sim.shutdownFromInstance(id);
    return { status: 200, json: sim.instance(id) ?? {} };
  }
  return { status: 404, json: { error: "NotFound", message: `no control ${key}` } };
}
