/**
 * The list `order` parameter (§5.7, upstream `load_limit_offset_order_params` and
 * `optimize_orders`): parse, drop unknown columns, append the default orders, cut after the
 * first unique column, drop orders on unselected columns; and the comparator that sorts by it.
 */

import { argumentError } from "./errors.js";
import { compare } from "./predicate.js";
import { type SimContainer, columnsOf, containerColumns, isColumn } from "./record.js";

/** One sort key. */
export interface OrderTerm {
  column: string;
  descending: boolean;
}

/** §5.7: appended to every order. */
const defaultOrders: readonly OrderTerm[] = [
  { column: "modified_at", descending: true },
  { column: "uuid", descending: true },
];

/**
 * Columns a list can be ordered by here: scalar columns. Upstream also accepts the
 * serialized/jsonb columns (sorting their text); the simulator drops those like unknown ones.
 */
function isOrderable(column: string): boolean {
  if (!isColumn(column)) return false;
  const type = containerColumns[column];
  return type !== "serialized" && type !== "jsonb";
}

/**
 * Parses `order`: a string `"col [asc|desc]"`, a comma-separated list, a JSON array (text
 * starting with `[`) or an array. Unknown columns and bad directions are silently dropped.
 */
export function parseOrder(param: unknown): OrderTerm[] {
  let parts: unknown[];
  if (Array.isArray(param)) {
    parts = param;
  } else if (typeof param === "string" && param.trim() !== "") {
    if (param.startsWith("[")) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(param);
      } catch {
        throw argumentError('Could not parse "order" param as an array');
      }
      if (!Array.isArray(parsed)) throw argumentError('Could not parse "order" param as an array');
      parts = parsed;
    } else {
      parts = param.split(",");
    }
  } else {
    parts = [];
  }
  const terms: OrderTerm[] = [];
  for (const part of parts) {
    const [column = "", direction = "asc"] = String(part).trim().split(/\s+/);
    const dir = direction.toLowerCase();
    if (/^[a-z][_a-z0-9]+$/.test(column) && isOrderable(column) && (dir === "asc" || dir === "desc")) {
      terms.push({ column, descending: dir === "desc" });
    }
  }
  return terms;
}

/**
 * §5.7 effective order: given orders + `modified_at desc, uuid desc`, each column once, cut
 * after `uuid` (unique); then, with `select`, orders on unselected columns are dropped. So
 * `priority desc` with the dispatcher's select is `priority desc, uuid desc`. If that leaves
 * no uuid term the simulator adds `uuid asc` so that pages are deterministic (upstream's
 * order is then whatever the database returns).
 */
export function effectiveOrder(given: readonly OrderTerm[], select: readonly string[] | undefined): OrderTerm[] {
  const seen = new Set<string>();
  let terms: OrderTerm[] = [];
  for (const term of [...given, ...defaultOrders]) {
    if (seen.has(term.column)) continue;
    seen.add(term.column);
    terms.push(term);
    if (term.column === "uuid") break;
  }
  if (select !== undefined) terms = terms.filter((t) => select.includes(t.column));
  if (!terms.some((t) => t.column === "uuid")) terms.push({ column: "uuid", descending: false });
  return terms;
}

/** A stable text key for an order, e.g. `priority desc,uuid desc`. */
export function orderKey(terms: readonly OrderTerm[]): string {
  return terms.map((t) => `${t.column} ${t.descending ? "desc" : "asc"}`).join(",");
}

/** Ascending comparison of two column values; NULL sorts last ascending, first descending (PostgreSQL). Bigints (priority) compare exactly. */
function compareValues(a: unknown, b: unknown): number {
  const aNull = a === null || a === undefined;
  const bNull = b === null || b === undefined;
  if (aNull || bNull) return aNull === bNull ? 0 : aNull ? 1 : -1;
  return compare(a, b);
}

/** A comparator for records by `terms` (strings compare by code unit, i.e. C collation). */
export function comparatorFor(terms: readonly OrderTerm[]): (a: SimContainer, b: SimContainer) => number {
  const columns = terms.map((t) => t.column);
  const signs = terms.map((t) => (t.descending ? -1 : 1));
  const n = terms.length;
  return (a, b) => {
    const ca = columnsOf(a);
    const cb = columnsOf(b);
    for (let i = 0; i < n; i++) {
      const column = columns[i] as string;
      const va = ca[column];
      const vb = cb[column];
      // Fast paths for the common cases (uuids and timestamps, int64 priorities); the general rule otherwise.
      let c: number;
      if (typeof va === "string" && typeof vb === "string") c = va < vb ? -1 : va > vb ? 1 : 0;
      else if (typeof va === "bigint" && typeof vb === "bigint") c = va < vb ? -1 : va > vb ? 1 : 0;
      else if (typeof va === "number" && typeof vb === "number") c = va - vb;
      else c = compareValues(va, vb);
      if (c !== 0) return c * (signs[i] as number);
    }
    return 0;
  };
}
