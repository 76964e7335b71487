/**
 * The simulator's container record: the columns of upstream's `containers` table that the API
 * renders (§5.2), their column types (which decide filter and order behaviour, §5.7), the
 * defaults a new record gets, and rendering with `select`. Records are immutable: every change
 * stores a new object, which is what lets sorted views find the old copy by its old values.
 */

import type { ContainerState } from "../../lib/model/container.js";

/**
 * Column types as upstream's database has them (`db/structure.sql`). A `bigint` column holds
 * JavaScript bigints (`priority`, §5.6: int64 values past 2^53); `integer` ones hold numbers.
 */
export type ColumnType = "string" | "integer" | "bigint" | "float" | "datetime" | "boolean" | "serialized" | "jsonb";

/** Container columns and their types. `serialized` columns are text holding JSON (Rails `serialize`). */
export const containerColumns = {
  uuid: "string",
  owner_uuid: "string",
  created_at: "datetime",
  modified_at: "datetime",
  modified_by_user_uuid: "string",
  state: "string",
  started_at: "datetime",
  finished_at: "datetime",
  log: "string",
  environment: "serialized",
  cwd: "string",
  command: "serialized",
  output_path: "string",
  mounts: "serialized",
  runtime_constraints: "serialized",
  output: "string",
  container_image: "string",
  progress: "float",
  priority: "bigint",
  exit_code: "integer",
  auth_uuid: "string",
  locked_by_uuid: "string",
  scheduling_parameters: "serialized",
  runtime_status: "jsonb",
  runtime_user_uuid: "string",
  runtime_auth_scopes: "jsonb",
  lock_count: "integer",
  gateway_address: "string",
  interactive_session_started: "boolean",
  output_storage_classes: "jsonb",
  output_properties: "jsonb",
  cost: "float",
  subrequests_cost: "float",
  output_glob: "serialized",
  service: "boolean",
  published_ports: "jsonb",
} as const satisfies Record<string, ColumnType>;

/** A container column name. */
export type ContainerColumn = keyof typeof containerColumns;

/** Whether `name` is a container column. */
export function isColumn(name: string): name is ContainerColumn {
  return Object.hasOwn(containerColumns, name);
}

/** Columns whose value must be a JSON object (the rest of serialized/jsonb hold arrays). */
export const hashColumns: ReadonlySet<string> = new Set([
  "environment",
  "mounts",
  "runtime_constraints",
  "scheduling_parameters",
  "runtime_status",
  "output_properties",
  "published_ports",
]);

/** One stored container: every column (upstream names and JSON shapes) plus the etag. */
export interface SimContainer {
  readonly uuid: string;
  readonly owner_uuid: string;
  readonly created_at: string;
  readonly modified_at: string;
  readonly modified_by_user_uuid: string;
  readonly state: ContainerState;
  readonly started_at: string | null;
  readonly finished_at: string | null;
  readonly log: string | null;
  readonly environment: Readonly<Record<string, unknown>>;
  readonly cwd: string;
  readonly command: readonly unknown[];
  readonly output_path: string;
  readonly mounts: Readonly<Record<string, unknown>>;
  readonly runtime_constraints: Readonly<Record<string, unknown>>;
  readonly output: string | null;
  readonly container_image: string;
  readonly progress: number | null;
  /** int64, exact (§5.6). */
  readonly priority: bigint;
  readonly exit_code: number | null;
  readonly auth_uuid: string | null;
  readonly locked_by_uuid: string | null;
  readonly scheduling_parameters: Readonly<Record<string, unknown>>;
  readonly runtime_status: Readonly<Record<string, unknown>>;
  readonly runtime_user_uuid: string | null;
  readonly runtime_auth_scopes: readonly unknown[];
  readonly lock_count: number;
  readonly gateway_address: string | null;
  readonly interactive_session_started: boolean;
  readonly output_storage_classes: readonly unknown[];
  readonly output_properties: Readonly<Record<string, unknown>>;
  readonly cost: number;
  readonly subrequests_cost: number;
  readonly output_glob: readonly unknown[];
  readonly service: boolean;
  readonly published_ports: Readonly<Record<string, unknown>>;
  readonly etag: string;
}

/** The attributes a client may name in `select` (the `:common` + `:user` API templates, §5.2). */
export const selectableAttributes: readonly string[] = [
  "kind",
  "etag",
  "uuid",
  "owner_uuid",
  "created_at",
  "modified_by_user_uuid",
  "modified_at",
  "command",
  "container_image",
  "cwd",
  "environment",
  "exit_code",
  "finished_at",
  "locked_by_uuid",
  "log",
  "mounts",
  "output",
  "output_path",
  "output_glob",
  "priority",
  "progress",
  "runtime_constraints",
  "runtime_status",
  "started_at",
  "state",
  "auth_uuid",
  "scheduling_parameters",
  "runtime_user_uuid",
  "runtime_auth_scopes",
  "lock_count",
  "gateway_address",
  "interactive_session_started",
  "output_storage_classes",
  "output_properties",
  "cost",
  "subrequests_cost",
  "service",
  "published_ports",
];

/** Column values a record starts with (upstream `fill_field_defaults` and the column defaults). */
export const columnDefaults: Readonly<Record<string, unknown>> = {
  state: "Queued",
  started_at: null,
  finished_at: null,
  log: null,
  environment: {},
  cwd: ".",
  mounts: {},
  runtime_constraints: {},
  output: null,
  progress: null,
  priority: 0n,
  exit_code: null,
  auth_uuid: null,
  locked_by_uuid: null,
  scheduling_parameters: {},
  runtime_status: {},
  runtime_user_uuid: null,
  runtime_auth_scopes: [],
  lock_count: 0,
  gateway_address: null,
  interactive_session_started: false,
  output_storage_classes: ["default"],
  output_properties: {},
  cost: 0,
  subrequests_cost: 0,
  output_glob: [],
  service: false,
  published_ports: {},
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * §5.2 `fill_container_defaults`: implied zero values merged under the stored
 * runtime_constraints (and its gpu) and scheduling_parameters. Non-hash values are left alone.
 */
export function fillContainerDefaults(fields: Record<string, unknown>): void {
  const rc = fields.runtime_constraints;
  if (isPlainObject(rc)) {
    const filled: Record<string, unknown> = {
      API: false,
      gpu: {},
      keep_cache_disk: 0,
      keep_cache_ram: 0,
      ram: 0,
      vcpus: 0,
      ...rc,
    };
    if (isPlainObject(filled.gpu)) {
      filled.gpu = { device_count: 0, driver_version: "", hardware_target: [], stack: "", vram: 0, ...filled.gpu };
    }
    fields.runtime_constraints = filled;
  }
  const sp = fields.scheduling_parameters;
  if (isPlainObject(sp)) {
    fields.scheduling_parameters = { max_run_time: 0, partitions: [], preemptible: false, supervisor: false, ...sp };
  }
}

/** A record's columns as a plain map, for code that handles columns generically. */
export function columnsOf(record: SimContainer): Record<string, unknown> {
  return record as unknown as Record<string, unknown>;
}

/** Every key of a stored record, in one fixed order. */
const recordKeys: readonly string[] = [...Object.keys(containerColumns), "etag"];

/**
 * Makes a stored record from a column map the caller has checked (rules.ts, fixture.ts):
 * every column present (unset ones NULL), in one fixed key order so that all records share
 * one object shape, which keeps sorting 100k of them fast.
 */
export function asRecord(fields: Readonly<Record<string, unknown>>): SimContainer {
  const record = Object.fromEntries(recordKeys.map((key) => [key, fields[key] ?? null]));
  return Object.freeze(record) as unknown as SimContainer;
}

/** Renders a record as the API does (§5.2): every selectable attribute, or `kind` plus the selected ones. */
export function renderContainer(record: SimContainer, select?: readonly string[]): Record<string, unknown> {
  const columns = columnsOf(record);
  const names = select === undefined ? selectableAttributes : ["kind", ...select.filter((s) => s !== "kind")];
  const out: Record<string, unknown> = {};
  for (const name of names) out[name] = name === "kind" ? "arvados#container" : (columns[name] ?? null);
  return out;
}

/** Rails `humanize` of a column name, as in validation messages ("locked_by_uuid" → "Locked by uuid"). */
export function humanize(column: string): string {
  const words = column.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Ruby's `inspect` of a JSON value, as in whitelist messages (`{"error"=>"x"}`, `nil`). */
export function rubyInspectValue(value: unknown): string {
  if (value === null || value === undefined) return "nil";
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(rubyInspectValue).join(", ")}]`;
  if (isPlainObject(value)) {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}=>${rubyInspectValue(v)}`)
      .join(", ")}}`;
  }
  return String(value);
}

/** Ruby class name of a JSON value, as in filter error messages. */
export function rubyClassName(value: unknown): string {
  if (value === null || value === undefined) return "NilClass";
  if (typeof value === "string") return "String";
  if (typeof value === "bigint") return "Integer";
  if (typeof value === "number") return Number.isInteger(value) ? "Integer" : "Float";
  if (value === true) return "TrueClass";
  if (value === false) return "FalseClass";
  if (Array.isArray(value)) return "Array";
  return "Hash";
}

/** Deep equality of JSON values. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

export { isPlainObject };
