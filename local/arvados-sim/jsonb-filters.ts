/**
 * Filters on jsonb columns (§5.7, upstream `record_filters.rb`): `exists`, `contains`,
 * equality, and `col.key` subproperty filters.
 */

import { stringifyArvadosJson } from "../../lib/model/exact-json.js";
import { argumentError } from "./errors.js";
import { type Predicate, comparison } from "./predicate.js";
import { type SimContainer, columnsOf, isPlainObject, jsonEqual, rubyClassName } from "./record.js";

/** jsonb columns: `exists`, `contains`, and `col.key` subproperty filters. */
export function jsonbFilter(attr: string, path: string | undefined, operator: string, operand: unknown): Predicate {
  const get = (r: SimContainer) => columnsOf(r)[attr];
  if (path === undefined) {
    if (operator === "exists") return (r) => hasKey(get(r), operand);
    if (operator === "contains") {
      if (Array.isArray(operand) && operand.length === 0)
        throw argumentError(`Invalid operand '[]' for 'contains' operator`);
      const keys = Array.isArray(operand) ? operand : [operand];
      if (!keys.every((k) => typeof k === "string")) {
        throw argumentError(
          `Invalid element ${stringifyArvadosJson(keys)} in operand for "contains" operator (operand must be a string or array of strings)`,
        );
      }
      return (r) => keys.every((k) => hasKey(get(r), k));
    }
    if (operator === "=" || operator === "!=" || operator === "<>") {
      const test = (r: SimContainer) => jsonEqual(get(r), typeof operand === "string" ? safeParse(operand) : operand);
      return operator === "=" ? test : (r) => !test(r);
    }
    throw argumentError(`Invalid attribute '${attr}' in filter`);
  }
  const sub = (r: SimContainer) => {
    const v = get(r);
    return isPlainObject(v) ? v[path] : undefined;
  };
  switch (operator) {
    case "=":
      return (r) => jsonEqual(sub(r), operand);
    case "!=":
      return (r) => !jsonEqual(sub(r), operand);
    case "in":
      if (!Array.isArray(operand))
        throw argumentError(`Invalid operand type '${rubyClassName(operand)}' for 'in' operator in filters`);
      return (r) => operand.some((o) => jsonEqual(sub(r), o));
    case "<":
    case "<=":
    case ">":
    case ">=":
      return comparison(operator, sub, operand);
    case "exists":
      if (operand !== true && operand !== false)
        throw argumentError(`Invalid operand '${String(operand)}' for 'exists' must be true or false`);
      return (r) => hasKey(get(r), path) === operand;
    default:
      throw argumentError(`Invalid operator for subproperty search '${operator}'`);
  }
}

function hasKey(value: unknown, key: unknown): boolean {
  if (Array.isArray(value)) return value.includes(key);
  return isPlainObject(value) && typeof key === "string" && Object.hasOwn(value, key);
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
