import { apiStatus, type ContainerApi } from "../model/container-api.js";
import type { Mount } from "../model/container.js";
import { chooseInstanceTypes, type TypeChoiceConfig } from "../instance-types/choose.js";
import { instanceResourcesNeeded } from "../instance-types/resources.js";
import type { TypeChoiceTable } from "./ports.js";
import type { Queue } from "./queue.js";

/** What type choice works with: the container's mounts from Arvados, the table, the queue. */
export interface TypeChoiceDeps {
  api: Pick<ContainerApi, "getContainer">;
  store: TypeChoiceTable;
  queue: Pick<Queue, "lock" | "heldLock" | "setRuntimeError" | "cancel" | "forget">;
  config: TypeChoiceConfig;
}

/** What happened to one entry. */
export type AssignOutcome =
  | "assigned"
  | "already-assigned"
  | "gone"
  | "cancelled-unsatisfiable"
  | "stored-without-types"
  | "lock-refused";

/** arvados.Mount's scalar fields and their Go types (§5.2); others are not checked, as Go ignores unknown keys. */
const mountFieldTypes: Record<string, "string" | "bool" | "int64"> = {
  kind: "string",
  writable: "bool",
  portable_data_hash: "string",
  uuid: "string",
  device_type: "string",
  path: "string",
  exclude_from_output: "bool",
  capacity: "int64",
};

/**
 * How Go's decoder names a JSON value it cannot store: the JSON type, and for a number that does
 * not parse as an integer field's type, the number too ("number 1.5").
 */
function goJsonValue(value: unknown, goType?: string): string {
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return goType === "int64" ? `number ${String(value)}` : "number";
  if (typeof value === "boolean") return "bool";
  return typeof value;
}

function fitsGoType(value: unknown, goType: "string" | "bool" | "int64"): boolean {
  if (goType === "string") return typeof value === "string";
  if (goType === "bool") return typeof value === "boolean";
  return typeof value === "number" && Number.isSafeInteger(value);
}

/**
 * Decodes a container's `mounts` as Go's encoding/json does into `map[string]arvados.Mount`
 * (§1.8, issue #21314): null values are zero values, a wrongly-typed value is an error whose
 * text ("json: cannot unmarshal ...") ends up in runtime_status.error like upstream's.
 */
export function decodeMounts(value: unknown): { mounts: Record<string, Mount> } | { error: string } {
  const fail = (what: unknown, field: string, goType: string) => ({
    error: `json: cannot unmarshal ${goJsonValue(what, goType)} into Go struct field ${field} of type ${goType}`,
  });
  if (value === undefined || value === null) return { mounts: {} };
  if (typeof value !== "object" || Array.isArray(value)) return fail(value, "Container.mounts", "map[string]arvados.Mount");
  const mounts: Record<string, Mount> = {};
  for (const [path, mount] of Object.entries(value as Record<string, unknown>)) {
    // null decodes to a zero Mount: no kind, no capacity.
    if (mount === null) {
      mounts[path] = { kind: "" };
      continue;
    }
    if (typeof mount !== "object" || Array.isArray(mount)) return fail(mount, "Container.mounts", "arvados.Mount");
    const fields = mount as Record<string, unknown>;
    for (const [field, goType] of Object.entries(mountFieldTypes)) {
      const v = fields[field];
      if (v !== undefined && v !== null && !fitsGoType(v, goType)) return fail(v, `Mount.mounts.${field}`, goType);
    }
    mounts[path] = { ...fields, kind: typeof fields.kind === "string" ? fields.kind : "" } as Mount;
  }
  return { mounts };
}

/**
 * Chooses instance types for one new entry (upstream addEnt, §1.8, done here after the insert):
 * fetch the container's mounts, compute resources and ranked types, and store them once. A
 * container no type can run (or whose mounts cannot be decoded) is locked if Queued, given
 * upstream's runtime_status.error, cancelled, and dropped from the queue. Safe to repeat: an
 * entry that already has types, or is gone, is left alone.
 */
export async function assignInstanceTypes(uuid: string, deps: TypeChoiceDeps): Promise<AssignOutcome> {
  const entry = await deps.store.get(uuid);
  if (entry === undefined) return "gone";
  if (entry.instanceTypes !== undefined) return "already-assigned";

  let mountsValue: unknown;
  try {
    mountsValue = (await deps.api.getContainer(uuid, ["mounts"])).mounts;
  } catch (err) {
    // Deleted meanwhile: the next update removes the entry.
    if (apiStatus(err) === 404) return "gone";
    throw err;
  }
  const decoded = decodeMounts(mountsValue);
  const container = entry.container;
  if ("error" in decoded) {
    return cancelUnsatisfiable(deps, uuid, container.state, `error getting mounts from container record: ${decoded.error}`);
  }
  const choice = chooseInstanceTypes(deps.config, { ...container, mounts: decoded.mounts });
  if (choice.ok) {
    const resources = instanceResourcesNeeded(deps.config, { ...container, mounts: decoded.mounts });
    return (await deps.store.setInstanceTypes(uuid, choice.types.map((it) => it.Name), resources, choice.decision)) ? "assigned" : "already-assigned";
  }
  if (container.state === "Queued" || container.state === "Locked") {
    return cancelUnsatisfiable(deps, uuid, container.state, choice.error.message);
  }
  // §1.8 step 5: a Running (or finished) container is kept with no types, so it is never launched.
  const resources = instanceResourcesNeeded(deps.config, { ...container, mounts: decoded.mounts });
  await deps.store.setInstanceTypes(uuid, [], resources, choice.decision);
  return "stored-without-types";
}

/**
 * §1.8 cancelUnsatisfiableContainer: lock first if Queued (runtime_status needs the lock, §5.5),
 * set runtime_status.error, cancel; an error is ignored if the container ends up Cancelled
 * anyway. Then forget the entry.
 */
async function cancelUnsatisfiable(
  deps: Pick<TypeChoiceDeps, "api" | "queue">,
  uuid: string,
  state: string,
  message: string,
): Promise<AssignOutcome> {
  if (state === "Queued") {
    try {
      await deps.queue.lock(uuid);
    } catch (err) {
      // 422: no longer Queued, or priority 0. That includes our own lock whose reply was lost
      // (a retried record): go on if the lock is ours, else leave it; if it comes back, it is seen again.
      const status = apiStatus(err);
      if (status !== 422 && status !== 403) throw err;
      if ((await deps.queue.heldLock(uuid))?.state !== "Locked") return "lock-refused";
    }
  }
  try {
    await deps.queue.setRuntimeError(uuid, message);
    await deps.queue.cancel(uuid);
  } catch (err) {
    const current = await deps.api.getContainer(uuid, ["state"]);
    if (current.state !== "Cancelled") throw err;
  }
  await deps.queue.forget(uuid);
  return "cancelled-unsatisfiable";
}
