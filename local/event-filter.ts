/**
 * The part of Lambda's event-filtering rule syntax (EventBridge pattern rules) that this
 * project's serverless.yml uses, with AWS's semantics where they bite, so the local runner
 * delivers exactly the records AWS would: `numeric` matches JSON numbers only (a stream image's
 * {"N": "5"} is a string, so filters on numbers use string rules such as `anything-but: ["0"]`),
 * `exists` looks at leaves only, arrays match when any element does. Anything else in a pattern
 * is an error, so a filter cannot silently use syntax this matcher does not understand.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Rule = Json;

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The leaf values (strings, numbers, booleans, null) at `path`, arrays flattened at every level. */
function leavesAt(value: Json | undefined, path: readonly string[]): Json[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value.flatMap((element) => leavesAt(element, path));
  const [head, ...rest] = path;
  if (head === undefined) return isObject(value) ? [] : [value];
  return isObject(value) ? leavesAt(value[head], rest) : [];
}

function ruleMatches(rule: Rule, leaf: Json): boolean {
  if (!isObject(rule)) return rule === leaf;
  const [operator, ...others] = Object.keys(rule);
  if (operator === undefined || others.length > 0) throw new Error(`unsupported rule ${JSON.stringify(rule)}`);
  const operand = rule[operator] as Json;
  switch (operator) {
    case "prefix":
      if (typeof operand !== "string") throw new Error(`unsupported prefix rule ${JSON.stringify(rule)}`);
      return typeof leaf === "string" && leaf.startsWith(operand);
    case "anything-but": {
      if (isObject(operand)) throw new Error(`unsupported anything-but rule ${JSON.stringify(rule)}`);
      const excluded = Array.isArray(operand) ? operand : [operand];
      return !excluded.some((x) => x === leaf);
    }
    case "numeric":
      if (!Array.isArray(operand)) throw new Error(`unsupported numeric rule ${JSON.stringify(rule)}`);
      return typeof leaf === "number" && numericHolds(operand, leaf);
    default:
      throw new Error(`unsupported rule ${JSON.stringify(rule)}`);
  }
}

function numericHolds(comparisons: Json[], n: number): boolean {
  for (let i = 0; i < comparisons.length; i += 2) {
    const [op, bound] = [comparisons[i], comparisons[i + 1]];
    if (typeof bound !== "number") throw new Error(`unsupported numeric bound ${JSON.stringify(bound)}`);
    const holds = { "=": n === bound, "<": n < bound, "<=": n <= bound, ">": n > bound, ">=": n >= bound }[String(op)];
    if (holds === undefined) throw new Error(`unsupported numeric operator ${JSON.stringify(op)}`);
    if (!holds) return false;
  }
  return true;
}

/** Whether `event` matches `pattern`: every field of the pattern, each by any of its rules. */
export function patternMatches(pattern: Json, event: Json, path: string[] = []): boolean {
  if (!isObject(pattern)) throw new Error(`unsupported pattern at ${path.join(".")}`);
  return Object.entries(pattern).every(([key, sub]) => {
    const fieldPath = [...path, key];
    if (isObject(sub)) return patternMatches(sub, event, fieldPath);
    if (!Array.isArray(sub)) throw new Error(`pattern field ${fieldPath.join(".")} must be a list of rules`);
    const leaves = leavesAt(event, fieldPath);
    return sub.some((rule) => {
      if (isObject(rule) && "exists" in rule) return rule.exists === leaves.length > 0;
      return leaves.some((leaf) => ruleMatches(rule, leaf));
    });
  });
}

/** Whether Lambda would deliver `record` to a mapping with these filters (any filter matching). */

/** Whether Lambda would deliver `record` to a mapping with these filters (no filters, or any matching). */
export function passesFilters(filters: readonly Json[], record: unknown): boolean {
  if (filters.length === 0) return true;
  const event = JSON.parse(JSON.stringify(record)) as Json;
  return filters.some((filter) => patternMatches(filter, event));
}
