/**
 * The containers API of the simulator, independent of HTTP: each operation takes the caller
 * and the decoded request parameters and returns the JSON body to send (or throws a
 * SimError). Visibility (§5.7 "readable_by") is simplified: admin tokens see every container;
 * other tokens see the containers they have locked and those made visible to them with
 * `makeVisible` (upstream: those for which they can read a container request). Priorities
 * follow §5.6 for containers requested by other containers: they inherit the requesting
 * container's priority whenever it changes, and 0 once it has finished.
 */

import { isFinalState } from "../../lib/model/container.js";
import { argumentError, notFound, permissionDenied } from "./errors.js";
import { parseListQuery, parseSelect, runList } from "./list.js";
import { parseRequestJson } from "./params.js";
import { type SimContainer, renderContainer } from "./record.js";
import {
  type ChangeContext,
  createContainer,
  lockContainer,
  setPriorityColumn,
  unlockContainer,
  updateContainer,
} from "./rules.js";
import type { ContainerStore } from "./store.js";
import type { Caller, TokenRegistry } from "./tokens.js";
import { uuidTail } from "./tokens.js";
import type { SimClock } from "./clock.js";

/** Settings a test can change while the simulator runs. */
export interface SimSettings {
  /** `Containers.MaxDispatchAttempts` (default 10). */
  maxDispatchAttempts: number;
  /** `API.MaxItemsPerResponse` (default 1000): the cap on `limit`. */
  maxItemsPerResponse: number;
  /** Fault: return at most this many items per list page (never zero), like a response-size limit. */
  shortPage: number | undefined;
}

/** §5.4: lock and unlock replies render only these (plus kind). */
const lockSelect = ["uuid", "state", "priority", "auth_uuid", "locked_by_uuid"];

/** The ContainerService owns the container table and applies the API's rules to it. */
export class ContainerService {
  readonly #visibleTo = new Map<string, Set<string>>();
  /** Container uuid → the containers it requested (its children, §5.6). */
  readonly #children = new Map<string, Set<string>>();
  readonly #parent = new Map<string, string>();
  #counter = 0;

  constructor(
    readonly store: ContainerStore,
    readonly tokens: TokenRegistry,
    readonly clock: SimClock,
    readonly settings: SimSettings,
    readonly clusterId: string,
  ) {}

  /** A new container uuid `<cluster>-dz642-<15 chars>`, from a counter so tests are deterministic. */
  nextUuid(): string {
    for (;;) {
      this.#counter += 1;
      const uuid = `${this.clusterId}-dz642-${uuidTail(this.#counter)}`;
      if (this.store.get(uuid) === undefined) return uuid;
    }
  }

  /** The context rules need for a change made by `caller` now. */
  context(caller: Caller): ChangeContext {
    return {
      caller,
      now: this.clock.now(),
      maxDispatchAttempts: this.settings.maxDispatchAttempts,
      newAuthUuid: () => this.tokens.newAuthUuid(),
    };
  }

  /** Lets a non-admin token see a container. */
  makeVisible(uuid: string, tokenUuid: string): void {
    let set = this.#visibleTo.get(uuid);
    if (set === undefined) {
      set = new Set();
      this.#visibleTo.set(uuid, set);
    }
    set.add(tokenUuid);
  }

  /** Forgets a container's visibility grants and where it sits in the request tree (when it is deleted). */
  forgetVisibility(uuid: string): void {
    this.#visibleTo.delete(uuid);
    const parent = this.#parent.get(uuid);
    if (parent !== undefined) this.#children.get(parent)?.delete(uuid);
    this.#parent.delete(uuid);
    for (const child of this.#children.get(uuid) ?? []) this.#parent.delete(child);
    this.#children.delete(uuid);
  }

  /** Records that the container `parent` requested `child` (§5.6: the child inherits its priority). */
  adopt(child: string, parent: string): void {
    this.#parent.set(child, parent);
    let set = this.#children.get(parent);
    if (set === undefined) {
      set = new Set();
      this.#children.set(parent, set);
    }
    set.add(child);
  }

  /** The container that requested `uuid`, if another container did. */
  requestingContainer(uuid: string): string | undefined {
    return this.#parent.get(uuid);
  }

  /**
   * Stores a changed record (`before` its previous version), then applies §5.6 to the
   * containers it requested, as upstream's `update_priorities` and `handle_completed` do: while
   * it is not final they get its priority; once it is final, 0 (its child requests are set to
   * priority 0). Only children still Queued, Locked or Running change, and the change goes
   * down their own children in turn.
   */
  commit(before: SimContainer | undefined, after: SimContainer): void {
    if (after !== before) this.store.put(after);
    const children = this.#children.get(after.uuid);
    if (children === undefined || before === undefined) return;
    const finished = isFinalState(after.state) && !isFinalState(before.state);
    if (!finished && after.priority === before.priority) return;
    const inherited = isFinalState(after.state) ? 0n : after.priority;
    for (const uuid of children) {
      const child = this.store.get(uuid);
      if (child === undefined || isFinalState(child.state) || child.priority === inherited) continue;
      this.commit(child, setPriorityColumn(child, inherited));
    }
  }

  /** Sets a container's priority as the database does (§5.6), then carries it to its children. */
  setPriority(record: SimContainer, priority: bigint): SimContainer {
    const next = setPriorityColumn(record, priority);
    this.commit(record, next);
    return next;
  }

  #visible(caller: Caller): (r: SimContainer) => boolean {
    if (caller.admin) return () => true;
    return (r) => r.locked_by_uuid === caller.tokenUuid || this.#visibleTo.get(r.uuid)?.has(caller.tokenUuid) === true;
  }

  #find(caller: Caller, uuid: string): SimContainer {
    const record = this.store.get(uuid);
    if (record === undefined || !this.#visible(caller)(record)) throw notFound();
    return record;
  }

  /** `GET /arvados/v1/containers` (§5.7). */
  index(caller: Caller, params: Readonly<Record<string, unknown>>): Record<string, unknown> {
    const query = parseListQuery(params, this.settings.maxItemsPerResponse);
    const page = runList(this.store, query, this.#visible(caller), this.settings.shortPage);
    const body: Record<string, unknown> = {
      kind: "arvados#containerList",
      etag: "",
      self_link: "",
      offset: page.offset,
      limit: page.limit,
      items: page.items.map((r) => renderContainer(r, query.select)),
    };
    if (page.itemsAvailable !== undefined) body.items_available = page.itemsAvailable;
    return body;
  }

  /** `GET /arvados/v1/containers/{uuid}`. */
  show(caller: Caller, uuid: string, params: Readonly<Record<string, unknown>>): Record<string, unknown> {
    const select = parseSelect(params.select);
    return renderContainer(this.#find(caller, uuid), select);
  }

  /** `POST /arvados/v1/containers` (admin only). */
  create(caller: Caller, params: Readonly<Record<string, unknown>>): Record<string, unknown> {
    const select = parseSelect(params.select);
    const record = createContainer(this.nextUuid(), resourceAttrs(params), this.context(caller));
    this.commit(undefined, record);
    return renderContainer(record, select);
  }

  /** `PUT`/`PATCH /arvados/v1/containers/{uuid}`. */
  update(caller: Caller, uuid: string, params: Readonly<Record<string, unknown>>): Record<string, unknown> {
    const select = parseSelect(params.select);
    const old = this.#find(caller, uuid);
    const attrs = resourceAttrs(params);
    const record = updateContainer(old, attrs, this.context(caller));
    this.commit(old, record);
    return renderContainer(record, select);
  }

  /** `DELETE /arvados/v1/containers/{uuid}` (admin only). */
  destroy(caller: Caller, uuid: string, params: Readonly<Record<string, unknown>>): Record<string, unknown> {
    const select = parseSelect(params.select);
    const record = this.#find(caller, uuid);
    if (!caller.admin) throw permissionDenied();
    this.store.delete(uuid);
    this.forgetVisibility(uuid);
    return renderContainer(record, select);
  }

  /** `POST .../lock` (§5.4). */
  lock(caller: Caller, uuid: string): Record<string, unknown> {
    const old = this.#find(caller, uuid);
    const record = lockContainer(old, this.context(caller));
    this.commit(old, record);
    return renderContainer(record, lockSelect);
  }

  /** `POST .../unlock` (§5.4). */
  unlock(caller: Caller, uuid: string): Record<string, unknown> {
    const old = this.#find(caller, uuid);
    const record = unlockContainer(old, this.context(caller));
    this.commit(old, record);
    return renderContainer(record, lockSelect);
  }
}

/** The `container` parameter (§1.9): a JSON object, or JSON text of one. */
function resourceAttrs(params: Readonly<Record<string, unknown>>): Record<string, unknown> {
  let attrs = params.container;
  if (attrs === undefined || attrs === null) attrs = {};
  if (typeof attrs === "string") {
    try {
      attrs = parseRequestJson(attrs);
    } catch {
      throw argumentError("No container hash provided with request");
    }
  }
  if (typeof attrs !== "object" || attrs === null || Array.isArray(attrs)) {
    throw argumentError("No container hash provided with request");
  }
  return attrs as Record<string, unknown>;
}
