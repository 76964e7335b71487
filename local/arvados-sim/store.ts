/**
 * The simulator's container table: records by uuid, plus sorted views so that listing a large
 * table (100k containers, §1.6's "avail" and "mine" queries) does not sort it on every page.
 * A view is a source (all records, one state, or one locked_by_uuid) kept sorted by one
 * order; it is built on first use and then maintained on each change by binary search, or
 * rebuilt lazily after a burst of changes (bulk loads) where that is cheaper.
 */

import type { OrderTerm } from "./order.js";
import { comparatorFor, orderKey } from "./order.js";
import type { SimContainer } from "./record.js";

/** The records a view holds. */
export type ViewSource = { kind: "all" } | { kind: "state"; state: string } | { kind: "lockedBy"; uuid: string };

function inSource(source: ViewSource, record: SimContainer): boolean {
  switch (source.kind) {
    case "all":
      return true;
    case "state":
      return record.state === source.state;
    case "lockedBy":
      return record.locked_by_uuid === source.uuid;
  }
}

function sourceKey(source: ViewSource): string {
  return source.kind === "all" ? "all" : source.kind === "state" ? `state:${source.state}` : `lockedBy:${source.uuid}`;
}

/** After this many incremental edits without a read, a view is dropped and rebuilt when next read. */
const maxPendingEdits = 2000;
/** Views kept; the least recently read is evicted. */
const maxViews = 16;

interface SortedView {
  source: ViewSource;
  compare: (a: SimContainer, b: SimContainer) => number;
  items: SimContainer[];
  stale: boolean;
  pendingEdits: number;
}

/** First index whose item is not less than `record`. */
function lowerBound(view: SortedView, record: SimContainer): number {
  let lo = 0;
  let hi = view.items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const item = view.items[mid];
    if (item !== undefined && view.compare(item, record) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The ContainerStore holds every record; records are immutable and replaced on change. */
export class ContainerStore {
  readonly #byUuid = new Map<string, SimContainer>();
  readonly #views = new Map<string, SortedView>();

  get size(): number {
    return this.#byUuid.size;
  }

  get(uuid: string): SimContainer | undefined {
    return this.#byUuid.get(uuid);
  }

  values(): IterableIterator<SimContainer> {
    return this.#byUuid.values();
  }

  /** Inserts or replaces a record (by uuid). */
  put(record: SimContainer): void {
    const before = this.#byUuid.get(record.uuid);
    this.#byUuid.set(record.uuid, record);
    this.#maintain(before, record);
  }

  /** Removes a record; false if there was none. */
  delete(uuid: string): boolean {
    const before = this.#byUuid.get(uuid);
    if (before === undefined) return false;
    this.#byUuid.delete(uuid);
    this.#maintain(before, undefined);
    return true;
  }

  /** Records of `source` sorted by `order` (which must end in a unique column). Do not mutate. */
  sorted(source: ViewSource, order: readonly OrderTerm[]): readonly SimContainer[] {
    const key = `${sourceKey(source)}|${orderKey(order)}`;
    let view = this.#views.get(key);
    if (view === undefined) {
      view = { source, compare: comparatorFor(order), items: [], stale: true, pendingEdits: 0 };
      if (this.#views.size >= maxViews) {
        const oldest = this.#views.keys().next().value;
        if (oldest !== undefined) this.#views.delete(oldest);
      }
    } else {
      this.#views.delete(key); // re-inserted below: Map order is recency order
    }
    this.#views.set(key, view);
    if (view.stale) {
      const items: SimContainer[] = [];
      for (const record of this.#byUuid.values()) if (inSource(source, record)) items.push(record);
      items.sort(view.compare);
      view.items = items;
      view.stale = false;
    }
    view.pendingEdits = 0;
    return view.items;
  }

  #maintain(before: SimContainer | undefined, after: SimContainer | undefined): void {
    for (const view of this.#views.values()) {
      if (view.stale) continue;
      if (++view.pendingEdits > maxPendingEdits) {
        view.stale = true;
        view.items = [];
        continue;
      }
      if (before !== undefined && inSource(view.source, before)) {
        let i = lowerBound(view, before);
        while (i < view.items.length && view.items[i] !== before) i++;
        if (i < view.items.length) view.items.splice(i, 1);
        else {
          view.stale = true; // BUG guard: a record was mutated in place; rebuild rather than serve a wrong order
          view.items = [];
          continue;
        }
      }
      if (after !== undefined && inSource(view.source, after)) view.items.splice(lowerBound(view, after), 0, after);
    }
  }
}
