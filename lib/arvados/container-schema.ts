/**
 * The one schema of a container record as the API server renders it (§5.2): every reply that
 * carries containers (get, update, list) is checked by these field schemas, and the queue's
 * polls turn into QueuedContainer here, with the server's `fill_container_defaults` applied, so
 * no other module parses container JSON. A value of the wrong type fails the reply naming the
 * field and the container (the client turns it into ArvadosResponseError).
 */

import { z } from "zod";
import type { QueuedContainer } from "../model/container.js";
import { containerStates, maxPriority } from "../model/container.js";
import { containerUuidPattern } from "../model/container-uuid.js";
import { stringifyArvadosJson } from "../model/exact-json.js";

const notInt64 = "is not a non-negative int64";

/**
 * An int64 size or count. Past 2^53 the JSON number is the nearest double: inexact, but a value
 * the API server can send is never refused (8 PiB of RAM fits no instance type anyway).
 */
const size = z
  .number({ error: notInt64 })
  // Not zod's .int(): it stops at 2^53 (safe integers), and int64 sizes go past it.
  .refine((n) => Number.isInteger(n) && n >= 0 && n <= 2 ** 63, { error: notInt64 });

/** A scalar the server may render as null or leave out: the zero value then. */
function orZero<T extends z.ZodType>(schema: T, zero: z.output<T>) {
  return schema.nullish().transform((value): z.output<T> => value ?? zero);
}

const state = z.enum(containerStates as [string, ...string[]], { error: "is not a container state" });

/** §5.6 priority: an exact int64, parsed from the JSON text as a bigint (exact-json.ts). */
const priority = z.bigint({ error: notInt64 }).min(0n, { error: notInt64 }).max(maxPriority, { error: notInt64 });

const gpu = z.object({
  stack: orZero(z.string(), ""),
  driver_version: orZero(z.string(), ""),
  hardware_target: orZero(z.array(z.string()), []),
  device_count: orZero(size, 0),
  vram: orZero(size, 0),
});
const noGpu = { stack: "", driver_version: "", hardware_target: [], device_count: 0, vram: 0 };

/** `runtime_constraints` after the server's defaults (§5.2). */
const runtimeConstraints = z
  .object({
    API: z.boolean().nullish(),
    ram: orZero(size, 0),
    vcpus: orZero(size, 0),
    keep_cache_ram: orZero(size, 0),
    keep_cache_disk: orZero(size, 0),
    gpu: gpu.optional().transform((g) => g ?? noGpu),
  })
  .transform(({ API, ...rc }) => (API === undefined || API === null ? rc : { API, ...rc }));

/** `scheduling_parameters` after the server's defaults (§5.2). */
const schedulingParameters = z.object({
  partitions: orZero(z.array(z.string()), []),
  preemptible: orZero(z.boolean(), false),
  max_run_time: orZero(size, 0),
  supervisor: orZero(z.boolean(), false),
});

/** The container fields a dispatcher reads, with their wire types (§5.2). */
const containerFields = {
  uuid: z.string(),
  state,
  priority,
  locked_by_uuid: z.string().nullable(),
  auth_uuid: z.string().nullable(),
  lock_count: z.number(),
  container_image: z.string(),
  created_at: z.string(),
  modified_at: z.string(),
  runtime_constraints: runtimeConstraints,
  scheduling_parameters: schedulingParameters,
  // Decoded by mounts.ts with Go's rules: a wrongly-typed mount is not a broken reply but a
  // container upstream cancels with Go's decoding message (§1.8, #21314).
  mounts: z.unknown(),
  runtime_status: z.record(z.string(), z.unknown()).nullable(),
};

/** A container record in a reply: only what was selected is there; unknown fields pass through. */
export const containerReply = z.looseObject(containerFields).partial();

/**
 * The attributes the queue selects on every poll (§1.6); `mounts` is deliberately absent.
 * `lock_count` is ours, not upstream's: see QueuedContainer.lock_count.
 */
export const queueSelect = [
  "uuid",
  "state",
  "priority",
  "runtime_constraints",
  "container_image",
  "scheduling_parameters",
  "created_at",
  "lock_count",
] as const;

/**
 * The most a cached container may take: DynamoDB refuses items over 400 KB, and a real record
 * is a few hundred bytes, so anything near the limit is junk. Refusing it here, before the
 * update writes anything, names the container instead of failing some write with "Item size
 * has exceeded the maximum allowed size".
 */
export const maxCachedContainerBytes = 64 * 1024;

/**
 * A polled record as the queue caches it (upstream QueueEnt.Container): the selected fields
 * with the server's defaults, unknown fields dropped. The uuid must be a container uuid: it
 * becomes a table key, and later a tag, a ClientToken and a crunch-run argument.
 */
export const queuedContainer = z
  .object({
    uuid: containerFields.uuid.regex(containerUuidPattern, { error: "is not an Arvados container uuid" }),
    state,
    priority: orZero(priority, 0n),
    runtime_constraints: runtimeConstraints.optional().transform((rc) => rc ?? runtimeConstraints.parse({})),
    container_image: orZero(z.string(), ""),
    scheduling_parameters: schedulingParameters.optional().transform((sp) => sp ?? schedulingParameters.parse({})),
    created_at: orZero(z.string(), ""),
    lock_count: size.optional(),
  })
  .transform((c): QueuedContainer => c as QueuedContainer)
  .superRefine((container, ctx) => {
    const bytes = Buffer.byteLength(stringifyArvadosJson(container));
    if (bytes <= maxCachedContainerBytes) return;
    const sizes = Object.entries(container).map(
      ([name, value]) => [name, Buffer.byteLength(stringifyArvadosJson(value) ?? "")] as const,
    );
    const [largest = "record"] = sizes.sort((a, b) => b[1] - a[1])[0] ?? [];
    ctx.addIssue({
      code: "custom",
      path: [largest],
      message: `is too large to cache (record is ${bytes} bytes, limit ${maxCachedContainerBytes})`,
    });
  });
