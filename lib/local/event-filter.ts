/**
 * The subset of Lambda event-filtering rule syntax this project's serverless.yml uses, so the
 * local runner delivers exactly the records AWS would: exact values, `prefix`, `anything-but`,
 * `numeric` and `exists`. A record matches a pattern when every key of the pattern matches; it
 * matches a mapping when it matches any of its patterns. As in AWS, `numeric` compares JSON
 * numbers only: DynamoDB's `N` values are strings in stream records, so filters on them must
 * use string rules (e.g. `anything-but: ["0"]`).
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type FilterPattern = { [key: string]: FilterPattern | FilterRule[] };
type FilterRule = null | boolean | number | string | { [op: string]: Json };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function numericMatches(value: unknown, spec: Json): boolean {
  if (typeof value !== "number" || !Array.isArray(spec)) return false;
  for (let i = 0; i + 1 < spec.length; i += 2) {
    const op = spec[i];
    const bound = spec[i + 1];
    if (typeof bound !== "number") return false;
    const ok =
      op === "=" ? value === bound
      : op === ">" ? value > bound
      : op === ">=" ? value >= bound
      : op === "<" ? value < bound
      : op === "<=" ? value <= bound
      : false;
    if (!ok) return false;
  }
  return true;
}

function ruleMatches(rule: FilterRule, value: unknown, present: boolean): boolean {
  if (!isPlainObject(rule)) return present && value === rule;
  const [op, arg] = Object.entries(rule)[0] ?? [];
  switch (op) {
    case "exists":
      return present === arg;
    case "prefix":
      return present && typeof value === "string" && typeof arg === "string" && value.startsWith(arg);
    case "numeric":
      return present && numericMatches(value, arg ?? null);
    case "anything-but": {
      if (!present) return false;
      if (isPlainObject(arg)) return !ruleMatches(arg as FilterRule, value, present);
      const excluded = Array.isArray(arg) ? arg : [arg];
      return !excluded.some((x) => x === value);
    }
    default:
      throw new Error(`unsupported filter rule ${JSON.stringify(rule)}`);
  }
}

/** Whether `record` matches one filter pattern. */
export function matchesPattern(pattern: FilterPattern, record: unknown): boolean {
  return Object.entries(pattern).every(([key, expected]) => {
    const present = isPlainObject(record) && key in record;
    const value = present ? (record as Record<string, unknown>)[key] : undefined;
    if (Array.isArray(expected)) return expected.some((rule) => ruleMatches(rule, value, present));
    return present && matchesPattern(expected, value);
  });
}

/** Whether `record` passes a mapping's filters: no filters, or any pattern matching. */
export function passesFilters(patterns: readonly FilterPattern[], record: unknown): boolean {
  return patterns.length === 0 || patterns.some((p) => matchesPattern(p, record));
}
