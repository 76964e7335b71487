/**
 * Decoding of API replies: a body that is not JSON, not an object, or carries a field of the
 * wrong type fails here with a DecodeFailure (the client turns it into ArvadosResponseError),
 * so no caller crashes deeper on a malformed reply. Field names and types follow §5.2.
 */

import { z } from "zod";
import { parseArvadosJson } from "../model/exact-json.js";
import type { Container, ContainerStateChange } from "../model/container.js";
import type { ApiClientAuthorization, ContainerList } from "../model/container-api.js";
import { containerStates, maxPriority, type QueuedContainer } from "../model/container.js";
import { containerReply, queuedContainer } from "./container-schema.js";

/** Why a body could not be decoded; `field` names the offending attribute when there is one. */
export class DecodeFailure extends Error {
  override readonly name = "DecodeFailure";
  constructor(
    readonly reason: string,
    readonly field?: string,
  ) {
    super(reason);
  }
}

const containerList = z.looseObject({
  items: z.array(containerReply),
  items_available: z.number().optional(),
  offset: z.number().optional(),
  limit: z.number().optional(),
});

const queuedContainerList = containerList.extend({ items: z.array(queuedContainer) });

const state = z.enum(containerStates as [string, ...string[]]);
const priority = z.bigint().min(0n).max(maxPriority);

const stateChange = z.looseObject({
  uuid: z.string(),
  state,
  priority,
  locked_by_uuid: z.string().nullable(),
});

const authorization = z.looseObject({ uuid: z.string() });

/** Parses a body that must be a JSON object. */
export function decodeJsonObject(body: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = parseArvadosJson(body);
  } catch {
    throw new DecodeFailure("body is not JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new DecodeFailure("body is not a JSON object");
  }
  return parsed as Record<string, unknown>;
}

function check<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path ?? [];
  // In a list, the path is ["items", i, field, ...]: report the container field.
  const fieldPath = path[0] === "items" && typeof path[1] === "number" && path.length > 2 ? path.slice(2) : path;
  const field = typeof fieldPath[0] === "string" ? fieldPath[0] : undefined;
  const where = path.length > 0 ? path.map(String).join(".") : "body";
  // On a 1000-item page the index alone does not let an operator find the container.
  const container = itemUuid(value, path);
  const which = container === undefined ? "" : ` (container ${container})`;
  throw new DecodeFailure(`${where}${which}: ${issue?.message ?? "invalid"}`, field);
}

/** The uuid of the list item a decoding issue points into, when it has a string one. */
function itemUuid(value: unknown, path: readonly PropertyKey[]): string | undefined {
  if (path[0] !== "items" || typeof path[1] !== "number") return undefined;
  const items = (value as { items?: unknown }).items;
  const item = Array.isArray(items) ? (items[path[1]] as { uuid?: unknown } | undefined) : undefined;
  // Quoted and cut short: the uuid itself may be what is wrong.
  return typeof item?.uuid === "string" ? JSON.stringify(item.uuid.slice(0, 64)) : undefined;
}

/** A container record (get, update, create). */
export function decodeContainer(body: string): Partial<Container> {
  return check(containerReply, decodeJsonObject(body)) as Partial<Container>;
}

/** A container list (§5.7); `items` must be an array of container records. */
export function decodeContainerList(body: string): ContainerList<Partial<Container>> {
  return check(containerList, decodeJsonObject(body)) as ContainerList<Partial<Container>>;
}

/** A list of polled containers (§1.6: the queue's select), each as the queue caches it. */
export function decodeQueuedContainerList(body: string): ContainerList<QueuedContainer> {
  return check(queuedContainerList, decodeJsonObject(body)) as ContainerList<QueuedContainer>;
}

/** A lock/unlock reply (§5.4): uuid, state, priority and locked_by_uuid must all be present. */
export function decodeStateChange(body: string): ContainerStateChange {
  const record = check(stateChange, decodeJsonObject(body));
  return {
    uuid: record.uuid,
    state: record.state as ContainerStateChange["state"],
    priority: record.priority,
    locked_by_uuid: record.locked_by_uuid,
  };
}

/**
 * The caller's token record. `api_token` (the secret itself, which the server renders) is
 * dropped so that the record can be logged or stored safely.
 */
export function decodeAuthorization(body: string): ApiClientAuthorization {
  const { api_token: _secret, ...rest } = check(authorization, decodeJsonObject(body));
  return rest as ApiClientAuthorization;
}
