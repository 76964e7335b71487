/**
 * The container model's write rules, as upstream's `Container` model applies them on every
 * create, update, lock and unlock (§5.3–5.5): callbacks in upstream's order
 * (`set_timestamps`, `check_lock`, `check_unlock`), then the validations (state transitions,
 * the permitted-attribute whitelist and who may write, `validate_lock`, `assign_auth`), then
 * `clear_runtime_status_when_queued`. Each function returns the new record or throws a
 * SimError; nothing is stored here.
 */

import { ContainerState, isContainerState, isFinalState, stateTransitions } from "../../lib/model/container.js";
import { createHash } from "node:crypto";
import { normalizeTimestamp } from "./clock.js";
import {
  SimError,
  invalidStateTransition,
  lockFailed,
  permissionDenied,
  rubyInspect,
  validationFailed,
} from "./errors.js";
import {
  type SimContainer,
  asRecord,
  columnsOf,
  containerColumns,
  fillContainerDefaults,
  hashColumns,
  humanize,
  isColumn,
  isPlainObject,
  jsonEqual,
  rubyInspectValue,
} from "./record.js";
import type { Caller } from "./tokens.js";

/** What a change needs besides the record and the attributes. */
export interface ChangeContext {
  caller: Caller;
  /** The timestamp of this change. */
  now: string;
  /** `Containers.MaxDispatchAttempts` (§5.4, default 10). */
  maxDispatchAttempts: number;
  /** Mints an `auth_uuid` when a container is locked (§5.4 `assign_auth`). */
  newAuthUuid: () => string;
}

/** Request attributes upstream drops before assigning (`resource_attrs`, `update`). */
const droppedAttributes = new Set([
  "created_at",
  "modified_by_client_uuid",
  "modified_by_user_uuid",
  "modified_at",
  "kind",
  "etag",
  "href",
]);

/** §5.5 progress attributes. */
const progressAttrs = [
  "progress",
  "runtime_status",
  "subrequests_cost",
  "cost",
  "log",
  "output",
  "output_properties",
  "exit_code",
];

/** §5.5 attributes a create may set. */
const createAttrs = [
  "owner_uuid",
  "command",
  "container_image",
  "cwd",
  "environment",
  "mounts",
  "output_path",
  "output_glob",
  "priority",
  "runtime_constraints",
  "scheduling_parameters",
  "runtime_user_uuid",
  "runtime_auth_scopes",
  "output_storage_classes",
  "service",
  "published_ports",
];

/** Column values of a row before a create assigns anything (the database column defaults). */
const newRowDefaults: Readonly<Record<string, unknown>> = {
  runtime_status: {},
  runtime_auth_scopes: [],
  output_storage_classes: ["default"],
  output_properties: {},
  lock_count: 0,
  interactive_session_started: false,
  cost: 0,
  subrequests_cost: 0,
  output_glob: [],
  service: false,
  published_ports: {},
};

/** Every column NULL except those with database defaults: a row before a create assigns anything. */
function newRow(): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const column of Object.keys(containerColumns)) row[column] = null;
  return { ...row, ...newRowDefaults };
}

/** Casts one request attribute to its column type (Rails attribute casting); 422 when it cannot. */
function castAttribute(column: keyof typeof containerColumns, value: unknown): unknown {
  const human = humanize(column);
  if (value === null) return null;
  switch (containerColumns[column]) {
    case "string":
      if (typeof value === "string") return value;
      if (typeof value === "number" || typeof value === "boolean") return String(value);
      throw validationFailed([`${human} is invalid`]);
    case "bigint":
      return castBigint(human, value);
    case "integer":
    case "float": {
      const n =
        typeof value === "string" && value.trim() !== ""
          ? Number(value)
          : typeof value === "bigint"
            ? Number(value)
            : value;
      if (typeof n !== "number" || Number.isNaN(n)) throw validationFailed([`${human} is not a number`]);
      return n;
    }
    case "datetime":
      return typeof value === "string" ? (normalizeTimestamp(value) ?? null) : null;
    case "boolean":
      if (typeof value === "boolean") return value;
      if (["true", "1", "t"].includes(String(value))) return true;
      if (["false", "0", "f", ""].includes(String(value))) return false;
      throw validationFailed([`${human} is invalid`]);
    default: {
      // accept_attribute_as_json: a JSON string is decoded.
      let decoded = value;
      if (typeof value === "string") {
        try {
          decoded = JSON.parse(value);
        } catch {
          throw validationFailed([`${human} is not valid JSON`]);
        }
      }
      const wantHash = hashColumns.has(column);
      if (wantHash ? !isPlainObject(decoded) : !Array.isArray(decoded)) {
        throw validationFailed([`${human} must be ${wantHash ? "a hash" : "an array"}`]);
      }
      return decoded;
    }
  }
}

/** The int64 range of a `bigint` column. */
const int64Min = -(1n << 63n);
const int64Max = (1n << 63n) - 1n;

/**
 * Casts a value for a `bigint` column (`priority`) exactly: a bigint (what the request parser
 * makes of every JSON `priority`), an integer a double holds exactly, or integer text. Anything
 * else is left as it came for the numericality validation to refuse ("must be an integer"), as
 * Rails validates the value before its cast. Past int64, 422 as Rails' RangeError.
 */
function castBigint(human: string, value: unknown): unknown {
  let n: unknown = value;
  if (typeof value === "number" && Number.isSafeInteger(value)) n = BigInt(value);
  else if (typeof value === "string") {
    const text = value.trim();
    if (/^[+-]?\d+$/.test(text)) n = BigInt(text);
    else if (text !== "" && !Number.isNaN(Number(text))) n = Number(text);
    else throw validationFailed([`${human} is not a number`]);
  }
  if (typeof n === "bigint" && (n < int64Min || n > int64Max)) {
    throw new SimError(422, [
      rubyInspect("ActiveModel::RangeError", `${n} is out of range for ActiveModel::Type::Integer with limit 8 bytes`),
    ]);
  }
  if (typeof n !== "bigint" && typeof n !== "number") throw validationFailed([`${human} is not a number`]);
  return n;
}

function isBlank(value: unknown): boolean {
  return (
    value === null ||
    value === undefined ||
    (typeof value === "string" && value.trim() === "") ||
    (Array.isArray(value) && value.length === 0) ||
    (isPlainObject(value) && Object.keys(value).length === 0)
  );
}

/** `really_changed`: nil, [] and {} are all "empty" and equal to each other. */
function reallyChanged(before: unknown, after: unknown): boolean {
  if (isBlank(before) && isBlank(after) && typeof before !== "string" && typeof after !== "string") return false;
  return !jsonEqual(before ?? null, after ?? null);
}

/** §5.5 `validate_change`: the attributes this change may touch, or undefined for a state that has no rules. */
function permittedAttributes(
  wasState: string | null,
  next: Record<string, unknown>,
  old: Record<string, unknown>,
  isNew: boolean,
): Set<string> | undefined {
  const permitted = new Set<string>(["state"]);
  if (isNew) for (const a of createAttrs) permitted.add(a);
  const add = (...names: string[]) => {
    for (const n of names) permitted.add(n);
  };
  switch (next.state) {
    case "Locked":
      add("priority", "runtime_status", "log", "lock_count");
      break;
    case "Queued":
      add("priority");
      break;
    case "Running":
      add("priority", "output_properties", "gateway_address", ...progressAttrs);
      if (wasState !== "Running") add("started_at");
      if (old.interactive_session_started !== true) add("interactive_session_started");
      break;
    case "Complete":
      if (wasState === "Running") add("finished_at", ...progressAttrs);
      break;
    case "Cancelled":
      if (wasState === "Running") add("finished_at", ...progressAttrs);
      else if (wasState === "Queued" || wasState === "Locked") add("finished_at", "log", "runtime_status", "cost");
      break;
    default:
      return undefined;
  }
  return permitted;
}

/**
 * An etag for a record version (upstream: a digest of every attribute). Priority is part of it
 * because the database changes priority without touching modified_at (§5.6 `update_priorities`).
 */
export function etagOf(fields: Record<string, unknown>): string {
  const digest = createHash("md5")
    .update(`${String(fields.uuid)}:${String(fields.modified_at)}:${String(fields.priority)}`)
    .digest("hex");
  return BigInt(`0x${digest}`).toString(36);
}

/**
 * Applies `attrs` to `old` (undefined for a create) as upstream's save does, and returns the
 * record to store (`old` itself when nothing changed).
 */
function save(
  old: SimContainer | undefined,
  attrs: Readonly<Record<string, unknown>>,
  ctx: ChangeContext,
  identity?: { uuid: string },
): SimContainer {
  const isNew = old === undefined;
  const before: Record<string, unknown> = isNew ? newRow() : columnsOf(old);
  const next: Record<string, unknown> = { ...before };
  for (const [name, value] of Object.entries(attrs)) {
    if (droppedAttributes.has(name)) continue;
    if (!isColumn(name))
      throw new SimError(422, [
        rubyInspect("ActiveModel::UnknownAttributeError", `unknown attribute '${name}' for Container.`),
      ]);
    next[name] = castAttribute(name, value);
  }
  if (isNew) {
    // fill_field_defaults
    next.state ??= ContainerState.Queued;
    next.environment ??= {};
    next.runtime_constraints ??= {};
    next.mounts ??= {};
    next.output_glob ??= [];
    next.cwd ??= ".";
    next.priority ??= 0n;
    next.scheduling_parameters ??= {};
  }
  const wasState = isNew ? null : old.state;
  const stateChanged = next.state !== wasState;
  const { caller } = ctx;

  // set_timestamps (§5.3)
  if (stateChanged && next.state === "Running") next.started_at ??= ctx.now;
  if (stateChanged && isContainerState(next.state) && isFinalState(next.state)) next.finished_at ??= ctx.now;
  // check_lock (§5.4)
  if (wasState === "Queued" && next.state === "Locked") {
    if (!(typeof next.priority === "bigint" && next.priority > 0n)) throw lockFailed("cannot lock when priority<=0");
    next.lock_count = Number(next.lock_count) + 1;
  }
  // check_unlock (§5.4). Upstream runs it after set_timestamps, so the MaxDispatchAttempts
  // cancel leaves finished_at unset; the simulator does the same.
  if (wasState === "Locked" && next.state === "Queued") {
    if (next.locked_by_uuid !== caller.tokenUuid) throw permissionDenied("locked by a different token");
    const lockCount = Number(next.lock_count);
    if (lockCount >= ctx.maxDispatchAttempts) {
      next.state = ContainerState.Cancelled;
      next.runtime_status = {
        error: `Failed to start container.  Cancelled after exceeding 'Containers.MaxDispatchAttempts' (lock_count=${lockCount})`,
      };
    }
  }

  const errors: string[] = [];
  for (const column of ["command", "container_image", "output_path", "cwd", "priority"]) {
    if (isBlank(next[column])) errors.push(`${humanize(column)} can't be blank`);
  }
  // castBigint leaves a number only for a value that is not an integer.
  if (typeof next.priority === "number") errors.push("Priority must be an integer");
  else if (typeof next.priority === "bigint" && next.priority < 0n)
    errors.push("Priority must be greater than or equal to 0");
  const status = next.runtime_status;
  for (const key of ["error", "errorDetail", "warning", "warningDetail", "activity", "preemptionNotice"]) {
    if (isPlainObject(status) && Object.hasOwn(status, key) && typeof status[key] !== "string") {
      errors.push(`Runtime status '${key}' value must be a string`);
    }
  }
  // validate_state_change (§5.3)
  if (next.state !== wasState) {
    const allowed =
      wasState === null
        ? next.state === "Queued"
        : (stateTransitions[wasState] as readonly unknown[]).includes(next.state);
    if (!allowed) errors.push(`State cannot change from ${wasState ?? ""} to ${String(next.state)}`);
  }
  // validate_change (§5.5)
  const permitted = permittedAttributes(wasState, next, before, isNew);
  if (permitted !== undefined) {
    if (wasState === "Running" && old?.auth_uuid != null && caller.tokenUuid === old.auth_uuid) {
      // The container's own token may also write final attrs, but not log or priority.
      permitted.add("finished_at");
      permitted.delete("log");
      permitted.delete("priority");
    } else if (!caller.admin) {
      throw permissionDenied(undefined, errors);
    } else if (typeof next.locked_by_uuid === "string" && next.locked_by_uuid !== caller.tokenUuid) {
      // Locked by another dispatcher: even an admin cannot write progress attributes.
      for (const a of progressAttrs) permitted.delete(a);
    }
    for (const column of Object.keys(containerColumns)) {
      if (!permitted.has(column) && reallyChanged(before[column], next[column])) {
        errors.push(
          `${humanize(column)} cannot be modified in state '${String(next.state)}' (${rubyInspectValue(before[column])}, ${rubyInspectValue(next[column])})`,
        );
      }
    }
  }
  // validate_lock (§5.4): locked_by_uuid is kept while Locked/Running, null otherwise.
  const needLock =
    next.state === "Locked" || next.state === "Running"
      ? ((before.locked_by_uuid as string | null | undefined) ?? caller.tokenUuid)
      : null;
  if (!jsonEqual(before.locked_by_uuid ?? null, next.locked_by_uuid ?? null) && next.locked_by_uuid !== needLock) {
    errors.push(`Locked by uuid can only change to ${needLock ?? ""}`);
  }
  next.locked_by_uuid = needLock;
  // assign_auth (§5.4)
  if (!jsonEqual(before.auth_uuid ?? null, next.auth_uuid ?? null)) {
    errors.push("Auth uuid is readonly");
  } else if (next.state !== "Locked" && next.state !== "Running") {
    next.auth_uuid = null;
  } else if (next.auth_uuid === null || next.auth_uuid === undefined) {
    next.auth_uuid = ctx.newAuthUuid();
    if (next.runtime_user_uuid === null || next.runtime_user_uuid === undefined) {
      next.runtime_user_uuid = next.owner_uuid ?? caller.userUuid;
      next.runtime_auth_scopes = ["all"];
    }
  }
  if (errors.length > 0) throw validationFailed(errors);

  // clear_runtime_status_when_queued
  if (wasState === "Locked" && next.state === "Queued") next.runtime_status = {};
  fillContainerDefaults(next);
  if (isNew) {
    next.uuid = identity?.uuid;
    next.owner_uuid ??= caller.userUuid;
    next.created_at = ctx.now;
  } else if (Object.keys(containerColumns).every((c) => jsonEqual(before[c] ?? null, next[c] ?? null))) {
    return old;
  }
  next.modified_at = ctx.now;
  next.modified_by_user_uuid = caller.userUuid;
  next.etag = etagOf(next);
  return asRecord(next);
}

/**
 * A priority change as the database makes it (§5.6: `update_priorities` is one SQL UPDATE of
 * the priority column): none of the model's rules, and modified_at stays as it was.
 */
export function setPriorityColumn(old: SimContainer, priority: bigint): SimContainer {
  const next: Record<string, unknown> = { ...columnsOf(old), priority };
  next.etag = etagOf(next);
  return asRecord(next);
}

/** `POST /arvados/v1/containers` (§5.1, admin only): a new Queued container with upstream's defaults. */
export function createContainer(
  uuid: string,
  attrs: Readonly<Record<string, unknown>>,
  ctx: ChangeContext,
): SimContainer {
  return save(undefined, attrs, ctx, { uuid });
}

/** `PUT`/`PATCH /arvados/v1/containers/{uuid}` (§5.3, §5.5). */
export function updateContainer(
  old: SimContainer,
  attrs: Readonly<Record<string, unknown>>,
  ctx: ChangeContext,
): SimContainer {
  return save(old, attrs, ctx);
}

/** `POST .../lock` (§5.4): Queued only; then the update to Locked (priority check, lock_count, locked_by_uuid, auth_uuid). */
export function lockContainer(old: SimContainer, ctx: ChangeContext): SimContainer {
  if (old.state !== ContainerState.Queued) throw lockFailed(`cannot lock when ${old.state}`);
  return save(old, { state: ContainerState.Locked }, ctx);
}

/** `POST .../unlock` (§5.4): Locked only; then the update to Queued (or Cancelled past MaxDispatchAttempts). */
export function unlockContainer(old: SimContainer, ctx: ChangeContext): SimContainer {
  if (old.state !== ContainerState.Locked) throw invalidStateTransition(`cannot unlock when ${old.state}`);
  return save(old, { state: ContainerState.Queued }, ctx);
}
