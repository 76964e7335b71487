import type { ContainerApi, Filter, ListContainersParams } from "../model/container-api.js";
import { isFinalState, type QueuedContainer } from "../model/container.js";

/** The list parameters of one poll request; the API port selects the queue's attributes. */
type PollParams = Omit<ListContainersParams, "select">;

/** §1.1: stop fetching Queued pages after this many non-supervisor containers. */
export const queuedContainersTarget = 100;
/** §1.6: cached entries missing from both filters are re-fetched this many uuids at a time. */
export const missingBatchSize = 20;

/**
 * The server answered a uuid batch with a container that was not asked for (§1.6). Upstream
 * errors out "rather than risk deadlock"; the whole update fails and writes nothing.
 */
export class UnrequestedContainerError extends Error {
  override readonly name = "UnrequestedContainerError";
  constructor(readonly containerUuid: string) {
    super("BUG? server response did not match requested filters, erroring out rather than risk deadlock");
  }
}

/**
 * Which list of a poll a page belongs to (§1.6): "mine" (locked by this dispatcher's token,
 * keyset paging), "avail" (Queued with priority > 0, offset paging) or "missing" (cached
 * entries re-fetched by uuid, keyset paging).
 */
export type PollList = "mine" | "avail" | "missing";

/**
 * §1.7 offset paging stops with an error after this many pages. Only "avail" pages by offset,
 * and it stops after `queuedContainersTarget` non-supervisor containers (§1.1): reaching 1000
 * pages needs a million Queued supervisor containers at the server's largest page (1000 items,
 * upstream's API.MaxItemsPerResponse default), far beyond any real queue. A server that
 * ignores `offset` answers the same page forever; this bounds that loop.
 */
export const maxOffsetPages = 1000;

/** A PagingError is a list the server pages wrongly; the whole update fails and writes nothing. */
export abstract class PagingError extends Error {
  constructor(
    /** The list being paged. */
    readonly list: PollList,
    /** Pages received when paging stopped. */
    readonly pages: number,
    message: string,
  ) {
    super(message);
  }
}

/** A uuid for a message: quoted, and cut short (it came from a server that is misbehaving). */
function shownUuid(uuid: unknown): string {
  if (typeof uuid !== "string") return "(none)";
  return JSON.stringify(uuid.length > 40 ? `${uuid.slice(0, 40)}…` : uuid);
}

/**
 * A KeysetPagingError is a keyset page (`order=uuid`, `uuid > <last>`) whose last uuid is not
 * after the previous page's last uuid: the server ignored the filter, and paging would never end.
 */
export class KeysetPagingError extends PagingError {
  override readonly name = "KeysetPagingError";
  constructor(
    list: PollList,
    pages: number,
    /** The last uuid of this page (undefined if its last item had none). */
    readonly lastUuid: string | undefined,
    /** The last uuid of the page before. */
    readonly previousLastUuid: string,
  ) {
    super(
      list,
      pages,
      `poll "${list}": page ${pages} of keyset paging ends at uuid ${shownUuid(lastUuid)}, not after the previous page's last uuid ${shownUuid(previousLastUuid)}: the server ignored the uuid filter; stopping`,
    );
  }
}

/** An OffsetPageCapError is offset paging that went on past `maxOffsetPages` pages. */
export class OffsetPageCapError extends PagingError {
  override readonly name = "OffsetPageCapError";
  constructor(
    list: PollList,
    /** The cap that was reached. */
    readonly maxPages: number,
  ) {
    super(
      list,
      maxPages,
      `poll "${list}": offset paging still had items after ${maxPages} pages: the server may ignore offset; stopping`,
    );
  }
}

/** What one poll learned: the current records, and the uuids the API says no longer exist. */
export interface PollResult {
  next: Map<string, QueuedContainer>;
  deleted: Set<string>;
  requests: number;
}

/** The cached state the poll needs: each cached uuid and its cached container state. */
export type CachedStates = ReadonlyMap<string, QueuedContainer["state"]>;

/**
 * §1.7 fetchAll: page through a list. `order=uuid` pages by keyset (uuid > last), anything
 * else by offset; with `maxNonSuper > 0` it stops after the page that brings the count of
 * non-supervisor containers to that many. Paging that cannot end fails instead of looping:
 * KeysetPagingError for a keyset page that does not move past the previous one,
 * OffsetPageCapError after `maxOffsetPages` offset pages.
 */
async function fetchAll(
  api: ContainerApi,
  list: PollList,
  initial: PollParams & { filters: Filter[] },
  maxNonSuper: number,
  onPage: () => void,
): Promise<QueuedContainer[]> {
  const results: QueuedContainer[] = [];
  let params: PollParams = { ...initial };
  let nonSuper = 0;
  let previousLast: string | undefined;
  for (let pages = 1; ; pages++) {
    onPage();
    const { items } = await api.listQueuedContainers(params);
    if (items.length === 0) break;
    for (const item of items) if (!item.scheduling_parameters.supervisor) nonSuper++;
    results.push(...items);
    if (maxNonSuper > 0 && nonSuper >= maxNonSuper) break;
    if (initial.order === "uuid") {
      // §1.6: keyset paging for "mine" keeps working while the set changes under us.
      const last = items.at(-1)?.uuid;
      if (previousLast !== undefined && !(typeof last === "string" && last > previousLast)) {
        throw new KeysetPagingError(list, pages, last, previousLast);
      }
      // A page without a usable last uuid cannot be paged past; the record itself fails to decode later.
      if (typeof last !== "string") break;
      previousLast = last;
      params = { ...initial, filters: [...initial.filters, ["uuid", ">", last]] };
    } else {
      if (pages >= maxOffsetPages) throw new OffsetPageCapError(list, maxOffsetPages);
      params = { ...params, offset: (params.offset ?? 0) + items.length };
    }
  }
  return results;
}

/**
 * The first part of one poll (§1.6 steps 2–4): every container locked by this dispatcher's
 * token, then the highest-priority Queued containers, one after the other as upstream does, so
 * a failure leaves no request of this poll in flight.
 */
export async function pollFilters(api: ContainerApi, tokenUuid: string): Promise<PollResult> {
  const result: PollResult = { next: new Map(), deleted: new Set(), requests: 0 };
  const countRequest = () => {
    result.requests++;
  };
  const common = { limit: 1000, count: "none" as const };
  const mine = await fetchAll(
    api,
    "mine",
    { ...common, filters: [["locked_by_uuid", "=", tokenUuid]], order: "uuid" },
    0,
    countRequest,
  );
  // The operand is the string "0", as upstream sends it (§1.6, §5.7).
  const avail = await fetchAll(
    api,
    "avail",
    {
      ...common,
      filters: [
        ["state", "=", "Queued"],
        ["priority", ">", "0"],
      ],
      order: "priority desc",
    },
    queuedContainersTarget,
    countRequest,
  );
  // The filters prove locked_by_uuid for these, so the cache knows it without selecting it.
  // Upstream applies "mine" then "avail": a later result overwrites an earlier one (§1.6 step 4).
  for (const container of mine) result.next.set(container.uuid, { ...container, locked_by_uuid: tokenUuid });
  for (const container of avail) result.next.set(container.uuid, { ...container, locked_by_uuid: null });
  return result;
}

/**
 * The rest of one poll (§1.6 step 5): cached non-final entries that dropped out of both filters
 * are fetched by uuid in batches of 20; an empty answer means deleted. Adds to `poll` in place.
 * Rejects with UnrequestedContainerError if the server returns a uuid it was not asked for.
 */
export async function pollMissing(api: ContainerApi, poll: PollResult, cached: CachedStates): Promise<PollResult> {
  const countRequest = () => {
    poll.requests++;
  };
  const missing = new Set<string>();
  for (const [uuid, state] of cached) {
    if (!poll.next.has(uuid) && !isFinalState(state)) missing.add(uuid);
  }
  while (missing.size > 0) {
    const batch = [...missing].slice(0, missingBatchSize);
    // No limit: the server default applies, as upstream (§1.6).
    const found = await fetchAll(
      api,
      "missing",
      { count: "none", filters: [["uuid", "in", batch]], order: "uuid" },
      0,
      countRequest,
    );
    if (found.length === 0) {
      // Only an empty answer means deleted; a short one may be a response-size limit.
      for (const uuid of batch) {
        missing.delete(uuid);
        poll.deleted.add(uuid);
      }
      continue;
    }
    for (const record of found) {
      if (record.uuid === undefined || !missing.has(record.uuid)) {
        throw new UnrequestedContainerError(String(record.uuid));
      }
      missing.delete(record.uuid);
    }
    // Not in "mine", so a Locked or Running one is held by another token (whose, the select
    // does not say: leave it unset); any other state has no lock at all (§5.4).
    for (const container of found) {
      const lockless = container.state !== "Locked" && container.state !== "Running";
      poll.next.set(container.uuid, lockless ? { ...container, locked_by_uuid: null } : container);
    }
  }
  return poll;
}

/** One whole poll (§1.6) given the cached states: pollFilters then pollMissing. */
export async function pollQueue(api: ContainerApi, tokenUuid: string, cached: CachedStates): Promise<PollResult> {
  return pollMissing(api, await pollFilters(api, tokenUuid), cached);
}
