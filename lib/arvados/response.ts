/**
 * Decoding of API replies: a body that is not JSON, not an object, or carries a field of the
 * wrong type fails here with a DecodeFailure (the client turns it into ArvadosResponseError),
 * so no caller crashes deeper on a malformed reply. Field names and types follow §5.2.
 */

import { z } from "zod";
import { parseArvadosJson } from "../model/exact-json.js";
import type { Container, ContainerStateChange } from "../model/container.js";
import type { ApiClientAuthorization, ContainerList } from "../model/container-api.js";
import { containerStates, maxPriority } from "../model/container.js";

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

const state = z.enum(containerStates as [string, ...string[]]);

/** An int64 priority, parsed exactly from the JSON text (json.ts): 0 … 2^63−1. */
const priority = z.bigint().min(0n).max(maxPriority);

const gpu = z.looseObject({
  stack: z.string().optional(),
  driver_version: z.string().optional(),
  hardware_target: z.array(z.string()).optional(),
  device_count: z.number().optional(),
  vram: z.number().optional(),
});

const runtimeConstraints = z.looseObject({
  API: z.boolean().optional(),
  ram: z.number().optional(),
  vcpus: z.number().optional(),
  keep_cache_ram: z.number().optional(),
  keep_cache_disk: z.number().optional(),
  gpu: gpu.optional(),
});

const schedulingParameters = z.looseObject({
  partitions: z.array(z.string()).nullable().optional(),
  preemptible: z.boolean().optional(),
  max_run_time: z.number().optional(),
  supervisor: z.boolean().optional(),
});


/** The container attributes a dispatcher reads, each optional (a reply holds only what was selected). */
const containerRecord = z.looseObject({
  uuid: z.string().optional(),
  state: state.optional(),
  priority: priority.optional(),
  locked_by_uuid: z.string().nullable().optional(),
  auth_uuid: z.string().nullable().optional(),
  lock_count: z.number().optional(),
  container_image: z.string().optional(),
  created_at: z.string().optional(),
  modified_at: z.string().optional(),
  runtime_constraints: runtimeConstraints.optional(),
  scheduling_parameters: schedulingParameters.optional(),
  // Decoded by the caller (lib/queue/assign-types.ts decodeMounts): a wrongly-typed mount is not
  // a broken reply but a container upstream cancels with Go's decoding message (§1.8, #21314).
  mounts: z.unknown().optional(),
  runtime_status: z.record(z.string(), z.unknown()).nullable().optional(),
});

const containerList = z.looseObject({
  items: z.array(containerRecord),
  items_available: z.number().optional(),
  offset: z.number().optional(),
  limit: z.number().optional(),
});

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
  return typeof item?.uuid === "string" ? item.uuid : undefined;
}

/** A container record (get, update, create). */
export function decodeContainer(body: string): Partial<Container> {
  return check(containerRecord, decodeJsonObject(body)) as Partial<Container>;
}

/** A container list (§5.7); `items` must be an array of container records. */
export function decodeContainerList(body: string): ContainerList<Partial<Container>> {
  return check(containerList, decodeJsonObject(body)) as ContainerList<Partial<Container>>;
}

/** A lock/unlock reply (§5.4): uuid, state, priority and locked_by_uuid must all be present. */
export function decodeStateChange(body: string): ContainerStateChange {
  const record = check(stateChange, decodeJsonObject(body));
  return { uuid: record.uuid, state: record.state as ContainerStateChange["state"], priority: record.priority, locked_by_uuid: record.locked_by_uuid };
}

/**
 * The caller's token record. `api_token` (the secret itself, which the server renders) is
 * dropped so that the record can be logged or stored safely.
 */
export function decodeAuthorization(body: string): ApiClientAuthorization {
  const { api_token: _secret, ...rest } = check(authorization, decodeJsonObject(body));
  return rest as ApiClientAuthorization;
}
