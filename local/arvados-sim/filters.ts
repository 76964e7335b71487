/**
 * The list `filters` parameter (§5.7, upstream `record_filters.rb`) compiled into a predicate
 * over records, with upstream's operand rules and error texts, plus the "anchor": the most
 * selective index a filter set allows (uuid list, locked_by_uuid, state) so a list need not
 * look at every container.
 */

import { stringifyArvadosJson } from "../../lib/model/exact-json.js";
import { normalizeTimestamp } from "./clock.js";
import { SimError, argumentError, rubyInspect } from "./errors.js";
import { jsonbFilter } from "./jsonb-filters.js";
import { parseRequestJson } from "./params.js";
import { type Predicate, comparison } from "./predicate.js";
import {
  type ColumnType,
  type SimContainer,
  columnsOf,
  containerColumns,
  isColumn,
  rubyClassName,
  rubyInspectValue,
} from "./record.js";

export type { Predicate } from "./predicate.js";

/** Where a list can start instead of scanning every record. */
export type Anchor =
  | { kind: "uuids"; uuids: readonly string[] }
  | { kind: "lockedBy"; uuid: string }
  | { kind: "state"; state: string }
  | { kind: "all" };

/** Compiled filters: all must hold. */
export interface CompiledFilters {
  predicate: Predicate;
  anchor: Anchor;
}

/** Parses `filters`: an array, or JSON text of one (§5.7). */
export function parseFilters(param: unknown): unknown[] {
  if (param === undefined || param === null || param === "") return [];
  if (Array.isArray(param)) return param;
  if (typeof param === "string") {
    try {
      const parsed: unknown = parseRequestJson(param);
      if (parsed === null) return [];
      if (Array.isArray(parsed)) return parsed;
    } catch {
      // fall through to the upstream error
    }
  }
  throw argumentError('Could not parse "filters" param as an array');
}

/** Upstream `searchable_columns(operator)`: text columns always; datetime/integer/boolean only for comparisons and in. */
function searchable(type: ColumnType, operator: string): boolean {
  const textOnly = !/[<=>]/.test(operator) && operator !== "in" && operator !== "not in";
  if (type === "string" || type === "serialized") return true;
  if (type === "datetime" || type === "integer" || type === "bigint" || type === "boolean") return !textOnly;
  return false;
}

/** The value compared for a column: serialized columns are compared as their JSON text. */
function columnValue(record: SimContainer, column: string, type: ColumnType): unknown {
  const value = columnsOf(record)[column];
  return type === "serialized" && value !== null && value !== undefined ? stringifyArvadosJson(value) : value;
}

function isNull(value: unknown): boolean {
  return value === null || value === undefined;
}

/** The range of PostgreSQL's `integer` and `bigint`, by column type. */
const integerRange = {
  integer: { sql: "integer", min: -(2n ** 31n), max: 2n ** 31n - 1n },
  bigint: { sql: "bigint", min: -(2n ** 63n), max: 2n ** 63n - 1n },
} as const;

function isIntegerType(type: ColumnType): type is "integer" | "bigint" {
  return type === "integer" || type === "bigint";
}

/**
 * PostgreSQL's cast of a string operand bound against an integer column, exactly (§5.7: the
 * dispatcher's `["priority",">","0"]`). Text that is not an integer, or past the column's
 * range, is the database's error, which upstream renders as a 422 too.
 */
function integerFromString(operand: string, type: "integer" | "bigint"): bigint {
  const range = integerRange[type];
  const text = operand.trim();
  if (!/^[+-]?\d+$/.test(text)) {
    throw new SimError(422, [
      rubyInspect(
        "ActiveRecord::StatementInvalid",
        `PG::InvalidTextRepresentation: ERROR:  invalid input syntax for type ${range.sql}: "${operand}"`,
      ),
    ]);
  }
  const value = BigInt(text);
  if (value < range.min || value > range.max) {
    throw new SimError(422, [
      rubyInspect(
        "ActiveRecord::StatementInvalid",
        `PG::NumericValueOutOfRange: ERROR:  value "${operand}" is out of range for type ${range.sql}`,
      ),
    ]);
  }
  return value;
}

/**
 * An Integer operand for an integer column, as a bigint so that int64 priorities compare
 * exactly; undefined for anything else (a Float, a number past 2^53 that is no longer exact).
 */
function integerOperand(operand: unknown): bigint | undefined {
  if (typeof operand === "bigint") return operand;
  if (typeof operand === "number" && Number.isSafeInteger(operand)) return BigInt(operand);
  return undefined;
}

function likeToRegExp(pattern: string, caseInsensitive: boolean): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern.charAt(i);
    if (ch === "\\" && i + 1 < pattern.length) source += pattern.charAt(++i).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    else if (ch === "%") source += "[\\s\\S]*";
    else if (ch === "_") source += "[\\s\\S]";
    else source += ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`, caseInsensitive ? "i" : "");
}

/** A string operand converted to the column's type, as the database would bind it. */
function bindString(type: ColumnType, operator: string, operand: string, attr: string): unknown {
  if (type === "boolean") {
    if (operator !== "=" && operator !== "<>")
      throw argumentError(`Invalid operator '${operator}' for boolean attribute '${attr}'`);
    const lower = operand.toLowerCase();
    if (["1", "t", "true", "y", "yes"].includes(lower)) return true;
    if (["0", "f", "false", "n", "no"].includes(lower)) return false;
    throw argumentError(`Invalid operand '${operand}' for boolean attribute '${attr}'`);
  }
  if (isIntegerType(type)) return integerFromString(operand, type);
  if (type === "datetime" && /[<=>]/.test(operator)) {
    const time = normalizeTimestamp(operand);
    if (time === undefined) throw argumentError(`no time information in ${JSON.stringify(operand)}`);
    return time;
  }
  return operand;
}

function scalarFilter(attr: string, type: ColumnType, rawOperator: string, operand: unknown): Predicate {
  const get = (r: SimContainer) => columnValue(r, attr, type);
  let operator = rawOperator;
  switch (operator) {
    case "=":
    case "<":
    case "<=":
    case ">":
    case ">=":
    case "!=":
    case "like":
    case "ilike": {
      if (operator === "!=") operator = "<>";
      if (typeof operand === "string") {
        if (operator === "like" || operator === "ilike") {
          const re = likeToRegExp(operand, operator === "ilike");
          return (r) => {
            const v = get(r);
            return v !== null && v !== undefined && re.test(String(v));
          };
        }
        const bound = bindString(type, operator, operand, attr);
        const test = comparison(operator, get, bound);
        // §5.7: "!=" becomes "<> ? OR col IS NULL", so it matches NULL.
        return operator === "<>" ? (r) => test(r) || isNull(get(r)) : test;
      }
      if (operand === null && operator === "=") return (r) => isNull(get(r));
      if (operand === null && operator === "<>") return (r) => !isNull(get(r));
      if (type === "boolean" && (operator === "=" || operator === "<>") && typeof operand === "boolean") {
        return comparison(operator, get, operand);
      }
      if (isIntegerType(type)) {
        // §5.7: an integer column takes an Integer (or String) operand; anything else is 422.
        const bound = integerOperand(operand);
        if (bound === undefined) {
          throw argumentError(
            `Invalid operand '${operand === null ? "" : rubyInspectValue(operand).replace(/^"|"$/g, "")}' for integer attribute '${attr}'`,
          );
        }
        return comparison(operator, get, bound);
      }
      throw argumentError(`Invalid operand type '${rubyClassName(operand)}' for '${operator}' operator in filters`);
    }
    case "in":
    case "not in": {
      if (!Array.isArray(operand)) {
        throw argumentError(`Invalid operand type '${rubyClassName(operand)}' for '${operator}' operator in filters`);
      }
      if (isIntegerType(type)) {
        for (const el of operand) {
          if (integerOperand(el) === undefined) {
            throw argumentError(
              `Invalid element '${el === null ? "" : String(el)}' in array for integer attribute '${attr}'`,
            );
          }
        }
      }
      // Integer values are looked up as bigints, so a number column and an int64 one both match exactly.
      const key = (v: unknown): unknown =>
        typeof v === "number" && Number.isInteger(v) && isIntegerType(type) ? BigInt(v) : v;
      const values = new Set<unknown>(
        operand
          .filter((el) => el !== null)
          .map((el) =>
            type === "datetime" && typeof el === "string"
              ? (normalizeTimestamp(el) ?? el)
              : isIntegerType(type)
                ? integerOperand(el)
                : String(el),
          ),
      );
      const inSet = (r: SimContainer) => {
        const v = get(r);
        return v !== null && v !== undefined && values.has(key(v));
      };
      if (operator === "in") return inSet;
      // §5.7: "not in" also matches NULL, unless the operand holds null: then SQL's
      // NOT IN (..., NULL) is never true.
      if (operand.includes(null)) return () => false;
      return (r) => !inSet(r);
    }
    case "is_a": {
      const kinds = Array.isArray(operand) ? operand : [operand];
      const prefixes = kinds.map((k) => kindPrefixes[String(k)]).filter((p): p is string => p !== undefined);
      if (attr === "uuid") return prefixes.includes("dz642") ? () => true : () => false;
      return (r) => {
        const v = get(r);
        return typeof v === "string" && prefixes.includes(v.slice(6, 11));
      };
    }
    default:
      throw argumentError(`Invalid operator '${operator}'`);
  }
}

/** uuid infixes of the kinds an `is_a` filter may name. */
const kindPrefixes: Readonly<Record<string, string>> = {
  "arvados#container": "dz642",
  "arvados#containerRequest": "xvhdp",
  "arvados#apiClientAuthorization": "gj3su",
  "arvados#user": "tpzed",
  "arvados#group": "j7d0g",
  "arvados#collection": "4zz18",
};

function compileOne(filter: unknown): Predicate {
  if (!Array.isArray(filter))
    throw argumentError(`Invalid element in filters array: ${stringifyArvadosJson(filter)} is not an array`);
  const [attrsIn, operatorIn, operand] = filter as [unknown, unknown, unknown];
  if (operatorIn === "@@") throw argumentError("Full text search operator is no longer supported");
  if (typeof operatorIn !== "string") {
    throw argumentError(
      `Invalid operator '${operatorIn === undefined ? "" : String(operatorIn)}' (${rubyClassName(operatorIn)}) in filter`,
    );
  }
  const operator = operatorIn.toLowerCase();
  const attrs = Array.isArray(attrsIn) ? attrsIn : [attrsIn];
  const alternatives = attrs.map((attrIn): Predicate => {
    const [attr = "", path] = String(attrIn).split(/\.(.*)/s, 2);
    const type: ColumnType | undefined = isColumn(attr) ? containerColumns[attr] : undefined;
    if (path !== undefined && path !== "") {
      if (type !== "jsonb") throw argumentError(`Invalid attribute '${attr}' for subproperty filter`);
      const key = path.startsWith("<") && path.endsWith(">") ? path.slice(1, -1) : path;
      return jsonbFilter(attr, key, operator, operand);
    }
    if (operator === "exists") {
      if (type !== "jsonb") throw argumentError(`Invalid attribute '${attr}' for operator '${operator}' in filter`);
      return jsonbFilter(attr, undefined, operator, operand);
    }
    if (type === "jsonb" && ["contains", "=", "<>", "!="].includes(operator))
      return jsonbFilter(attr, undefined, operator, operand);
    if (type === undefined || !searchable(type, operator)) throw argumentError(`Invalid attribute '${attr}' in filter`);
    return scalarFilter(attr, type, operator, operand);
  });
  return alternatives.length === 1 && alternatives[0] !== undefined
    ? alternatives[0]
    : (r) => alternatives.some((p) => p(r));
}

/** The most selective index a filter set allows: uuid =/in, then locked_by_uuid =, then state =. */
function anchorOf(filters: readonly unknown[]): Anchor {
  let lockedBy: string | undefined;
  let state: string | undefined;
  for (const filter of filters) {
    if (!Array.isArray(filter)) continue;
    const [attr, operator, operand] = filter as [unknown, unknown, unknown];
    if (attr === "uuid" && operator === "=" && typeof operand === "string") return { kind: "uuids", uuids: [operand] };
    if (attr === "uuid" && operator === "in" && Array.isArray(operand)) {
      return { kind: "uuids", uuids: operand.filter((u): u is string => typeof u === "string") };
    }
    if (attr === "locked_by_uuid" && operator === "=" && typeof operand === "string") lockedBy = operand;
    if (attr === "state" && operator === "=" && typeof operand === "string") state = operand;
  }
  if (lockedBy !== undefined) return { kind: "lockedBy", uuid: lockedBy };
  if (state !== undefined) return { kind: "state", state };
  return { kind: "all" };
}

/** Compiles filters (throwing upstream's 422 errors for bad ones) into a predicate and an anchor. */
export function compileFilters(filters: readonly unknown[]): CompiledFilters {
  const predicates = filters.map(compileOne);
  const predicate: Predicate = predicates.length === 0 ? () => true : (r) => predicates.every((p) => p(r));
  return { predicate, anchor: anchorOf(filters) };
}
