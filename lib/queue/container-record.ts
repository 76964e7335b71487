import { stringifyArvadosJson } from "../model/exact-json.js";
import { containerUuidPattern } from "../model/container-uuid.js";
import {
  type Container,
  type QueuedContainer,
  type RuntimeConstraints,
  type SchedulingParameters,
  isContainerState,
  maxPriority,
} from "../model/container.js";

/**
 * A container record from the API that cannot be cached: a missing uuid, an unknown state, a
 * field of the wrong type. Like upstream's JSON decoding error it fails the whole update, so a
 * half-understood record never reaches the table.
 */
export class MalformedContainerError extends Error {
  override readonly name = "MalformedContainerError";
  constructor(
    readonly containerUuid: string | undefined,
    readonly field: string,
    problem: string,
  ) {
    super(`container ${containerUuid ?? "(no uuid)"}: ${field} ${problem}`);
  }
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * An int64 size or count. Past 2^53 the JSON number is the nearest double: inexact, but a value
 * the API server can send is never refused (8 PiB of RAM fits no instance type anyway).
 */
function nonNegativeInteger(uuid: string, field: string, value: unknown, fallback = 0): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 2 ** 63) {
    throw new MalformedContainerError(uuid, field, "is not a non-negative int64");
  }
  return value;
}

/** §5.6 priority: an exact int64 (lib/arvados/json.ts parses it as a bigint), 0 when absent. */
function priority(uuid: string, value: unknown): bigint {
  if (value === undefined || value === null) return 0n;
  if (typeof value !== "bigint" || value < 0n || value > maxPriority) {
    throw new MalformedContainerError(uuid, "priority", "is not a non-negative int64");
  }
  return value;
}

function stringField(uuid: string, field: string, value: unknown, fallback = ""): string {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "string") throw new MalformedContainerError(uuid, field, "is not a string");
  return value;
}

function booleanField(uuid: string, field: string, value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== "boolean") throw new MalformedContainerError(uuid, field, "is not a boolean");
  return value;
}

function stringList(uuid: string, field: string, value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw new MalformedContainerError(uuid, field, "is not a list of strings");
  }
  return value as string[];
}

function objectField(uuid: string, field: string, value: unknown): Json {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new MalformedContainerError(uuid, field, "is not an object");
  return value;
}

/** §5.2 fill_container_defaults for runtime_constraints, with type checks. */
function runtimeConstraints(uuid: string, value: unknown): RuntimeConstraints {
  const rc = objectField(uuid, "runtime_constraints", value);
  const gpu = objectField(uuid, "runtime_constraints.gpu", rc.gpu);
  return {
    ...(rc.API === undefined || rc.API === null ? {} : { API: booleanField(uuid, "runtime_constraints.API", rc.API) }),
    ram: nonNegativeInteger(uuid, "runtime_constraints.ram", rc.ram),
    vcpus: nonNegativeInteger(uuid, "runtime_constraints.vcpus", rc.vcpus),
    keep_cache_ram: nonNegativeInteger(uuid, "runtime_constraints.keep_cache_ram", rc.keep_cache_ram),
    keep_cache_disk: nonNegativeInteger(uuid, "runtime_constraints.keep_cache_disk", rc.keep_cache_disk),
    gpu: {
      stack: stringField(uuid, "runtime_constraints.gpu.stack", gpu.stack),
      driver_version: stringField(uuid, "runtime_constraints.gpu.driver_version", gpu.driver_version),
      hardware_target: stringList(uuid, "runtime_constraints.gpu.hardware_target", gpu.hardware_target),
      device_count: nonNegativeInteger(uuid, "runtime_constraints.gpu.device_count", gpu.device_count),
      vram: nonNegativeInteger(uuid, "runtime_constraints.gpu.vram", gpu.vram),
    },
  };
}

/** §5.2 defaults for scheduling_parameters, with type checks. */
function schedulingParameters(uuid: string, value: unknown): SchedulingParameters {
  const sp = objectField(uuid, "scheduling_parameters", value);
  return {
    partitions: stringList(uuid, "scheduling_parameters.partitions", sp.partitions),
    preemptible: booleanField(uuid, "scheduling_parameters.preemptible", sp.preemptible),
    max_run_time: nonNegativeInteger(uuid, "scheduling_parameters.max_run_time", sp.max_run_time),
    supervisor: booleanField(uuid, "scheduling_parameters.supervisor", sp.supervisor),
  };
}

/**
 * Turns a polled record into the part of a container the cache keeps, filling the server's
 * defaults and rejecting anything it cannot trust. `lockedBy` is what the poll's filter proves
 * about locked_by_uuid (undefined when it proves nothing).
 */
export function toQueuedContainer(record: Partial<Container>, lockedBy: string | null | undefined): QueuedContainer {
  const uuid = record.uuid;
  if (typeof uuid !== "string" || uuid === "") throw new MalformedContainerError(undefined, "uuid", "is missing");
  // The uuid becomes a table key, and later a tag, a ClientToken and a crunch-run argument.
  if (!containerUuidPattern.test(uuid)) throw new MalformedContainerError(JSON.stringify(uuid.slice(0, 64)), "uuid", "is not an Arvados container uuid");
  if (!isContainerState(record.state)) throw new MalformedContainerError(uuid, "state", "is not a container state");
  const container: QueuedContainer = {
    uuid,
    state: record.state,
    priority: priority(uuid, record.priority),
    runtime_constraints: runtimeConstraints(uuid, record.runtime_constraints),
    container_image: stringField(uuid, "container_image", record.container_image),
    scheduling_parameters: schedulingParameters(uuid, record.scheduling_parameters),
    created_at: stringField(uuid, "created_at", record.created_at),
  };
  if (lockedBy !== undefined) container.locked_by_uuid = lockedBy;
  checkCacheable(container);
  return container;
}

/**
 * The most a cached container may take: DynamoDB refuses items over 400 KB, and a real record
 * is a few hundred bytes, so anything near the limit is junk. Refusing it here, before the
 * update writes anything, names the container instead of failing some write with "Item size
 * has exceeded the maximum allowed size".
 */
export const maxCachedContainerBytes = 64 * 1024;

function checkCacheable(container: QueuedContainer): void {
  const size = Buffer.byteLength(stringifyArvadosJson(container));
  if (size <= maxCachedContainerBytes) return;
  const fields = Object.entries(container).map(([name, value]) => [name, Buffer.byteLength(stringifyArvadosJson(value) ?? "")] as const);
  const [largest] = fields.sort((a, b) => b[1] - a[1])[0] ?? ["record"];
  throw new MalformedContainerError(container.uuid, largest, `is too large to cache (record is ${size} bytes, limit ${maxCachedContainerBytes})`);
}
