/**
 * The simulator's test controls over HTTP: JSON endpoints under `/_sim/` that mirror the
 * in-process methods of ArvadosSimulator, for a runner in another process. Loopback only and
 * unauthenticated: this is a test tool. Bodies are read like API requests (every `priority`
 * exactly, as a bigint) and replies written like API replies (int64 priorities as exact digits).
 *
 * | method and path | does |
 * |---|---|
 * | `GET /_sim/tokens`, `POST /_sim/tokens` `{admin}` | list / add tokens |
 * | `POST /_sim/containers` `{fields?, visibleTo?, request?: {priority?, createdAtMs?}, requestingContainerUuid?}` | addContainer |
 * | `GET`, `DELETE /_sim/containers/{uuid}` | raw record / delete |
 * | `POST /_sim/containers/{uuid}/priority` `{priority}` (a JSON integer, exact, or a decimal string) | setPriority |
 * | `POST /_sim/containers/{uuid}/visible` `{tokenUuid}` | makeVisible |
 * | `POST /_sim/containers/{uuid}/start` | startContainer |
 * | `POST /_sim/containers/{uuid}/finish` `{state, exitCode?}` | finishContainer |
 * | `GET`, `POST` `{route, count?, effect}`, `DELETE /_sim/faults` | list / inject / clear faults |
 * | `GET`, `PUT /_sim/settings` `{shortPage?, maxDispatchAttempts?, maxItemsPerResponse?}` | settings |
 * | `GET`, `DELETE /_sim/requests` | request log / clear it |
 * | `GET /_sim/stats` | container counts by state |
 */

import { z } from "zod";
import type { Container } from "../../lib/model/container.js";
import { SimError } from "./errors.js";
import type { FaultRule } from "./faults.js";
import { parseRequestJson } from "./params.js";
import type { RequestLogEntry } from "./request-log.js";

/** The in-process controls the HTTP endpoints call. */
export interface SimulatorControls {
  addToken(options: { admin: boolean }): { token: string; uuid: string };
  listTokens(): { uuid: string; token: string; admin: boolean }[];
  addContainer(
    fields?: Record<string, unknown>,
    options?: {
      visibleTo?: readonly string[];
      request?: { priority?: number; createdAtMs?: number };
      requestingContainerUuid?: string;
    },
  ): Container;
  getContainer(uuid: string): Container | undefined;
  deleteContainer(uuid: string): boolean;
  setPriority(uuid: string, priority: bigint | number | string): Container;
  makeVisible(uuid: string, tokenUuid: string): void;
  startContainer(uuid: string): Container;
  finishContainer(uuid: string, state: "Complete" | "Cancelled", exitCode?: number): Container;
  injectFault(rule: FaultRule): void;
  pendingFaults(): FaultRule[];
  clearFaults(): void;
  settings(): { shortPage: number | null; maxDispatchAttempts: number; maxItemsPerResponse: number };
  updateSettings(settings: {
    shortPage?: number | null;
    maxDispatchAttempts?: number;
    maxItemsPerResponse?: number;
  }): void;
  requests(): RequestLogEntry[];
  clearRequests(): void;
  stats(): { containers: number; byState: Record<string, number> };
}

const faultRule = z.object({
  route: z.string(),
  count: z.number().int().positive().optional(),
  effect: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("status"), status: z.number().int().min(100).max(599), message: z.string().optional() }),
    z.object({ kind: z.literal("delay"), ms: z.number().nonnegative() }),
    z.object({ kind: z.literal("malformed") }),
    z.object({ kind: z.literal("truncated") }),
    z.object({ kind: z.literal("reset") }),
    z.object({ kind: z.literal("replace"), body: z.string(), status: z.number().int().min(100).max(599).optional() }),
  ]),
});
const addContainerBody = z.object({
  fields: z.record(z.string(), z.unknown()).optional(),
  visibleTo: z.array(z.string()).optional(),
  // A request priority is 0 … 1000; as every JSON `priority`, it is read as a bigint.
  request: z
    .strictObject({ priority: z.bigint().transform(Number).optional(), createdAtMs: z.number().int().optional() })
    .optional(),
  requestingContainerUuid: z.string().optional(),
});
/** An exact priority: a JSON integer (read as a bigint) or a decimal string. */
const priorityBody = z.object({ priority: z.union([z.bigint(), z.string().regex(/^\d+$/)]) });
const settingsBody = z.object({
  shortPage: z.number().int().positive().nullable().optional(),
  maxDispatchAttempts: z.number().int().positive().optional(),
  maxItemsPerResponse: z.number().int().positive().optional(),
});

type Reply = { status: number; body: unknown };

function parseBody<T>(schema: z.ZodType<T>, text: string): T {
  let json: unknown = {};
  if (text.trim() !== "") {
    try {
      json = parseRequestJson(text);
    } catch {
      throw new SimError(400, ["body is not JSON"]);
    }
  }
  const result = schema.safeParse(json);
  if (!result.success)
    throw new SimError(
      400,
      result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`),
    );
  return result.data;
}

function found(container: Container | undefined): Reply {
  return container === undefined
    ? { status: 404, body: { errors: ["no such container"] } }
    : { status: 200, body: container };
}

function dispatch(sim: SimulatorControls, method: string, path: string, text: string): Reply {
  const parts = path.split("/").slice(2).map(decodeURIComponent); // after "/_sim/"
  const [resource, id, action] = parts;
  const key = `${method} ${resource ?? ""}${id === undefined ? "" : "/:id"}${action === undefined ? "" : `/${action}`}`;
  const uuid = id ?? "";
  switch (key) {
    case "GET tokens":
      return { status: 200, body: sim.listTokens() };
    case "POST tokens":
      return { status: 200, body: sim.addToken(parseBody(z.object({ admin: z.boolean() }), text)) };
    case "POST containers": {
      const { fields = {}, ...options } = parseBody(addContainerBody, text);
      return { status: 200, body: sim.addContainer(fields, options) };
    }
    case "GET containers/:id":
      return found(sim.getContainer(uuid));
    case "DELETE containers/:id":
      return sim.deleteContainer(uuid) ? { status: 200, body: { deleted: uuid } } : found(undefined);
    case "POST containers/:id/priority":
      return { status: 200, body: sim.setPriority(uuid, parseBody(priorityBody, text).priority) };
    case "POST containers/:id/visible":
      sim.makeVisible(uuid, parseBody(z.object({ tokenUuid: z.string() }), text).tokenUuid);
      return { status: 200, body: {} };
    case "POST containers/:id/start":
      return { status: 200, body: sim.startContainer(uuid) };
    case "POST containers/:id/finish": {
      const body = parseBody(
        z.object({ state: z.enum(["Complete", "Cancelled"]), exitCode: z.number().int().optional() }),
        text,
      );
      return { status: 200, body: sim.finishContainer(uuid, body.state, body.exitCode) };
    }
    case "GET faults":
      return { status: 200, body: sim.pendingFaults() };
    case "POST faults":
      sim.injectFault(parseBody(faultRule, text));
      return { status: 200, body: sim.pendingFaults() };
    case "DELETE faults":
      sim.clearFaults();
      return { status: 200, body: [] };
    case "GET settings":
      return { status: 200, body: sim.settings() };
    case "PUT settings":
      sim.updateSettings(parseBody(settingsBody, text));
      return { status: 200, body: sim.settings() };
    case "GET requests":
      return { status: 200, body: sim.requests() };
    case "DELETE requests":
      sim.clearRequests();
      return { status: 200, body: [] };
    case "GET stats":
      return { status: 200, body: sim.stats() };
    default:
      return { status: 404, body: { errors: ["no such control"] } };
  }
}

/** Handles one `/_sim/...` request; errors become `{errors: [...]}` replies. */
export function handleControl(sim: SimulatorControls, method: string, path: string, body: string): Reply {
  try {
    return dispatch(sim, method, path, body);
  } catch (error) {
    if (error instanceof SimError) return { status: error.status, body: { errors: error.messages } };
    return { status: 400, body: { errors: [error instanceof Error ? error.message : String(error)] } };
  }
}
