/**
 * The containers index (§5.7): parse `filters`, `order`, `limit`, `offset`, `count` and
 * `select` with upstream's rules and errors, then page through the store.
 */

import { argumentError } from "./errors.js";
import { type CompiledFilters, compileFilters, parseFilters } from "./filters.js";
import { type OrderTerm, comparatorFor, effectiveOrder, parseOrder } from "./order.js";
import { type SimContainer, selectableAttributes } from "./record.js";
import type { ContainerStore } from "./store.js";

/** A parsed list request. */
export interface ListQuery {
  filters: CompiledFilters;
  order: OrderTerm[];
  limit: number;
  offset: number;
  count: "exact" | "none";
  select: string[] | undefined;
}

/** One page of a list. `limit` is the limit applied, which a short page lowers (as upstream's `limit_database_read`). */
export interface ListPage {
  items: SimContainer[];
  itemsAvailable: number | undefined;
  offset: number;
  limit: number;
}

/** §5.7: default `limit`. */
export const defaultLimit = 100;

/**
 * Parses `select` (an array or JSON text of one). Unknown attributes are a 422, as is an
 * empty list; `modified_by_client_uuid` is ignored as upstream does. Undefined: no select.
 */
export function parseSelect(param: unknown): string[] | undefined {
  let select: unknown = param;
  if (typeof param === "string") {
    try {
      select = JSON.parse(param);
    } catch {
      throw argumentError('Could not parse "select" param as an array');
    }
  }
  if (select === undefined || select === null || select === false) return undefined;
  if (!Array.isArray(select)) throw argumentError('Could not parse "select" param as an array');
  const names = select.map(String).filter((s) => s !== "modified_by_client_uuid");
  for (const name of names) {
    if (!selectableAttributes.includes(name))
      throw argumentError(`Invalid attribute '${name}' of Container in select parameter`);
  }
  // Upstream turns an empty select into an SQL error; either way the client gets a 422.
  if (names.length === 0) throw argumentError("Empty select list");
  return names;
}

function nonNegativeInteger(param: unknown, name: string): number | undefined {
  if (param === undefined || param === null) return undefined;
  const text = String(param);
  if (!/^\d+$/.test(text)) throw argumentError(`Invalid value for ${name} parameter`);
  return Number.parseInt(text, 10);
}

/** Parses list parameters (values as decoded from the query string or body). */
export function parseListQuery(params: Readonly<Record<string, unknown>>, maxItemsPerResponse: number): ListQuery {
  const filters = compileFilters(parseFilters(params.filters));
  const limit = Math.min(nonNegativeInteger(params.limit, "limit") ?? defaultLimit, maxItemsPerResponse);
  const offset = nonNegativeInteger(params.offset, "offset") ?? 0;
  const select = parseSelect(params.select);
  const order = effectiveOrder(parseOrder(params.order), select);
  const count = params.count;
  if (count !== undefined && count !== "" && count !== "exact" && count !== "none") {
    throw argumentError("count parameter must be 'exact' or 'none'");
  }
  return { filters, order, limit, offset, count: count === "none" ? "none" : "exact", select };
}

/**
 * Runs a list query over the records `visible` allows. `shortPage` caps the rows returned
 * (never to zero), like upstream's response-size limit.
 */
export function runList(
  store: ContainerStore,
  query: ListQuery,
  visible: (r: SimContainer) => boolean,
  shortPage?: number,
): ListPage {
  const { predicate, anchor } = query.filters;
  const matches = (r: SimContainer) => predicate(r) && visible(r);
  let candidates: readonly SimContainer[];
  if (anchor.kind === "uuids") {
    const found = new Map<string, SimContainer>();
    for (const uuid of anchor.uuids) {
      const record = store.get(uuid);
      if (record !== undefined) found.set(uuid, record);
    }
    candidates = [...found.values()].sort(comparatorFor(query.order));
  } else {
    candidates = store.sorted(anchor, query.order);
  }
  const limit =
    shortPage === undefined || query.limit === 0 ? query.limit : Math.max(1, Math.min(query.limit, shortPage));
  const items: SimContainer[] = [];
  let matched = 0;
  for (const record of candidates) {
    if (!matches(record)) continue;
    matched++;
    if (matched > query.offset && items.length < limit) items.push(record);
    else if (items.length >= limit && query.count === "none") break;
  }
  return { items, itemsAvailable: query.count === "exact" ? matched : undefined, offset: query.offset, limit };
}
