import type { Mount } from "../model/container.js";
import type { DecodedMounts } from "../model/container-api.js";

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
export function decodeMounts(value: unknown): DecodedMounts {
  const fail = (what: unknown, field: string, goType: string) => ({
    error: `json: cannot unmarshal ${goJsonValue(what, goType)} into Go struct field ${field} of type ${goType}`,
  });
  if (value === undefined || value === null) return { mounts: {} };
  if (typeof value !== "object" || Array.isArray(value))
    return fail(value, "Container.mounts", "map[string]arvados.Mount");
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
