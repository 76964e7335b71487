/**
 * The Arvados API simulator: an HTTP server on 127.0.0.1 that behaves like the Arvados API
 * server for containers (§5), built from upstream's rules, with in-process test controls
 * (also served as JSON under `/_sim/`, see controls.ts).
 */

import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Container } from "../../lib/model/container.js";
import { ContainerState } from "../../lib/model/container.js";
import { SimClock } from "./clock.js";
import { type SimulatorControls, handleControl } from "./controls.js";
import { SimError } from "./errors.js";
import { type FaultRule, FaultPlan } from "./faults.js";
import { createRequestListener } from "./http.js";
import { fixtureRecord } from "./fixture.js";
import { type ContainerOrigin, exactPriority, originPriority } from "./priority.js";
import { type SimContainer, renderContainer } from "./record.js";
import { RequestLog, type RequestLogEntry } from "./request-log.js";
import { updateContainer } from "./rules.js";
import { ContainerService, type SimSettings } from "./service.js";
import { ContainerStore } from "./store.js";
import { type Caller, TokenRegistry, tokenString } from "./tokens.js";

/** Simulator settings; all optional. */
export interface ArvadosSimulatorOptions {
  /** Five-character cluster id in every uuid (default `zzzzz`). */
  clusterId?: string;
  /** The system root token's secret (default random). */
  rootTokenSecret?: string;
  /** `Containers.MaxDispatchAttempts` (default 10, §5.4). */
  maxDispatchAttempts?: number;
  /** `API.MaxItemsPerResponse` (default 1000, §5.7). */
  maxItemsPerResponse?: number;
  /** Wall clock for timestamps (default `new Date()`); timestamps are strictly increasing regardless. */
  clock?: () => Date;
  /** Request log entries kept (default 10,000). */
  requestLogLimit?: number;
}

export type { ContainerOrigin } from "./priority.js";

/** addContainer's options: the container's origin, and the non-admin tokens that may see it. */
export interface AddContainerOptions extends ContainerOrigin {
  visibleTo?: readonly string[];
}

/**
 * An ArvadosSimulator serves the containers API (§5.1: list, get, create, update, delete,
 * lock, unlock, and `api_client_authorizations/current`) over HTTP with upstream's rules and
 * errors. Controls are synchronous and take effect before the next request is served.
 */
export class ArvadosSimulator implements SimulatorControls {
  readonly clusterId: string;
  readonly #tokens: TokenRegistry;
  readonly #store = new ContainerStore();
  readonly #settings: SimSettings;
  readonly #clock: SimClock;
  readonly #service: ContainerService;
  readonly #faults = new FaultPlan();
  readonly #log: RequestLog;
  #server: Server | undefined;
  #stopping = new AbortController();
  #baseUrl: string | undefined;

  constructor(options: ArvadosSimulatorOptions = {}) {
    this.clusterId = options.clusterId ?? "zzzzz";
    this.#tokens = new TokenRegistry(this.clusterId, options.rootTokenSecret);
    this.#settings = {
      maxDispatchAttempts: options.maxDispatchAttempts ?? 10,
      maxItemsPerResponse: options.maxItemsPerResponse ?? 1000,
      shortPage: undefined,
    };
    this.#clock = new SimClock(options.clock);
    this.#log = new RequestLog(options.requestLogLimit);
    this.#service = new ContainerService(this.#store, this.#tokens, this.#clock, this.#settings, this.clusterId);
  }

  /** The system root token (`v2/<uuid>/<secret>`, admin): what a dispatcher uses (§1.11). */
  get rootToken(): string {
    return tokenString(this.#tokens.root);
  }

  /** The system root token's uuid (what `locked_by_uuid` holds after it locks). */
  get rootTokenUuid(): string {
    return this.#tokens.root.uuid;
  }

  /** `http://127.0.0.1:<port>` once started. */
  get baseUrl(): string {
    if (this.#baseUrl === undefined) throw new Error("simulator not started");
    return this.#baseUrl;
  }

  /** Starts listening on 127.0.0.1 (`port` 0 = ephemeral) and returns the base URL. */
  async start(port = 0): Promise<string> {
    if (this.#server !== undefined) return this.baseUrl;
    this.#stopping = new AbortController();
    const server = createServer(
      createRequestListener({
        service: this.#service,
        tokens: this.#tokens,
        faults: this.#faults,
        log: this.#log,
        controls: (method, path, body) => handleControl(this, method, path, body),
        signal: this.#stopping.signal,
      }),
    );
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    this.#server = server;
    this.#baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.#baseUrl;
  }

  /** Stops the server, dropping open connections and cutting injected delays short. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    this.#baseUrl = undefined;
    this.#stopping.abort();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** Adds a token (admin or not); returns its `v2/...` string and uuid. */
  addToken(options: { admin: boolean }): { token: string; uuid: string } {
    const token = this.#tokens.add(options);
    return { token: tokenString(token), uuid: token.uuid };
  }

  /** Every accepted token (a test tool: printing these is intended). */
  listTokens(): { uuid: string; token: string; admin: boolean }[] {
    return this.#tokens.list().map((t) => ({ uuid: t.uuid, token: tokenString(t), admin: t.admin }));
  }

  /**
   * Stores a container as given, in any state, without the API's rules: a test fixture.
   * Its priority is the one the API server assigns for its `options` origin (§5.6: a request
   * of priority 500 made now, unless told otherwise); a `priority` in `fields` is stored
   * exactly instead, as an admin may set it. Other unset fields get consistent values (uuid
   * from a counter, a small runtime_constraints; for Locked/Running: locked by the root
   * token, an auth_uuid, lock_count 1; timestamps for Running and final states; exit_code 0
   * for Complete). Throws SimError 400 on a bad field or origin, 404 for an unknown
   * requesting container.
   */
  addContainer(fields: Record<string, unknown> = {}, options: AddContainerOptions = {}): Container {
    const [uuid = ""] = this.addContainers(
      1,
      () => fields,
      () => options,
    );
    for (const tokenUuid of options.visibleTo ?? []) this.#service.makeVisible(uuid, tokenUuid);
    return this.#render(uuid);
  }

  /**
   * Bulk addContainer for benchmarks: `count` fixtures with `fieldsFor(i)` and `originFor(i)`;
   * returns their uuids (nothing is rendered, so 100k containers load in well under a second or two).
   */
  addContainers(
    count: number,
    fieldsFor: (i: number) => Record<string, unknown> = () => ({}),
    originFor: (i: number) => ContainerOrigin = () => ({}),
  ): string[] {
    const root = this.#tokens.root;
    const uuids: string[] = [];
    for (let i = 0; i < count; i++) {
      const fields = fieldsFor(i);
      const origin = originFor(i);
      const now = this.#clock.now();
      const parent =
        origin.requestingContainerUuid === undefined ? undefined : this.#require(origin.requestingContainerUuid);
      const assignedPriority = originPriority(origin, parent, now);
      if (fields.priority !== undefined && (origin.request !== undefined || parent !== undefined)) {
        throw new SimError(400, ["give either a priority or an origin (request, requestingContainerUuid), not both"]);
      }
      const record = fixtureRecord(fields, {
        uuid: typeof fields.uuid === "string" ? fields.uuid : this.#service.nextUuid(),
        now,
        lockedBy: root.uuid,
        ownerUuid: root.userUuid,
        newAuthUuid: () => this.#tokens.newAuthUuid(),
        assignedPriority,
      });
      this.#store.put(record);
      if (parent !== undefined) this.#service.adopt(record.uuid, parent.uuid);
      uuids.push(record.uuid);
    }
    return uuids;
  }

  /** The stored record, fully rendered, or undefined. */
  getContainer(uuid: string): Container | undefined {
    const record = this.#store.get(uuid);
    return record === undefined ? undefined : (renderContainer(record) as Container);
  }

  /** Removes a container (as if deleted from the database). */
  deleteContainer(uuid: string): boolean {
    this.#service.forgetVisibility(uuid);
    return this.#store.delete(uuid);
  }

  /**
   * Sets priority exactly (a bigint, a safe integer or a decimal string, 0 … 2^63−1), as
   * upstream's container-request machinery does (§5.6 `update_priorities`: the column alone,
   * modified_at unchanged); the containers it requested inherit it. Throws SimError 400 on
   * any other value.
   */
  setPriority(uuid: string, priority: bigint | number | string): Container {
    const record = this.#require(uuid);
    const exact = exactPriority(priority);
    if (exact === undefined) throw new SimError(400, [`invalid priority ${String(priority)}: an integer 0 … 2^63−1`]);
    return renderContainer(this.#service.setPriority(record, exact)) as Container;
  }

  /** Lets a non-admin token see a container. */
  makeVisible(uuid: string, tokenUuid: string): void {
    this.#require(uuid);
    this.#service.makeVisible(uuid, tokenUuid);
  }

  /** Locked → Running, as the container's runtime (crunch-run) does on start; API rules apply. */
  startContainer(uuid: string): Container {
    return this.#runtimeUpdate(uuid, { state: ContainerState.Running });
  }

  /** → Complete (from Running, with `exitCode`, default 0) or → Cancelled; API rules apply. */
  finishContainer(uuid: string, state: "Complete" | "Cancelled", exitCode?: number): Container {
    const attrs: Record<string, unknown> = { state };
    if (state === ContainerState.Complete) attrs.exit_code = exitCode ?? 0;
    else if (exitCode !== undefined) attrs.exit_code = exitCode;
    return this.#runtimeUpdate(uuid, attrs);
  }

  /** Queues a fault for matching requests (see FaultRule). */
  injectFault(rule: FaultRule): void {
    this.#faults.inject(rule);
  }

  pendingFaults(): FaultRule[] {
    return this.#faults.pending();
  }

  clearFaults(): void {
    this.#faults.clear();
  }

  /** Current settings (`shortPage` null when off). */
  settings(): { shortPage: number | null; maxDispatchAttempts: number; maxItemsPerResponse: number } {
    const { shortPage, maxDispatchAttempts, maxItemsPerResponse } = this.#settings;
    return { shortPage: shortPage ?? null, maxDispatchAttempts, maxItemsPerResponse };
  }

  /** Changes settings; `shortPage: null` turns short pages off. */
  updateSettings(settings: {
    shortPage?: number | null;
    maxDispatchAttempts?: number;
    maxItemsPerResponse?: number;
  }): void {
    if (settings.shortPage !== undefined) this.#settings.shortPage = settings.shortPage ?? undefined;
    if (settings.maxDispatchAttempts !== undefined) this.#settings.maxDispatchAttempts = settings.maxDispatchAttempts;
    if (settings.maxItemsPerResponse !== undefined) this.#settings.maxItemsPerResponse = settings.maxItemsPerResponse;
  }

  /** Fault: at most `items` per list page (never zero); undefined turns it off. */
  setShortPages(items: number | undefined): void {
    this.#settings.shortPage = items;
  }

  /** `Containers.MaxDispatchAttempts` from now on. */
  setMaxDispatchAttempts(attempts: number): void {
    this.#settings.maxDispatchAttempts = attempts;
  }

  /** The request log, oldest first (token uuids only, never tokens). */
  requests(): RequestLogEntry[] {
    return this.#log.entries();
  }

  clearRequests(): void {
    this.#log.clear();
  }

  /** Container counts. */
  stats(): { containers: number; byState: Record<string, number> } {
    const byState: Record<string, number> = {};
    for (const record of this.#store.values()) byState[record.state] = (byState[record.state] ?? 0) + 1;
    return { containers: this.#store.size, byState };
  }

  #render(uuid: string): Container {
    return renderContainer(this.#require(uuid)) as Container;
  }

  #require(uuid: string): SimContainer {
    const record = this.#store.get(uuid);
    if (record === undefined) throw new SimError(404, [`no container ${uuid}`]);
    return record;
  }

  /** An update made by the container's dispatcher on its behalf (admin, the locking token). */
  #runtimeUpdate(uuid: string, attrs: Record<string, unknown>): Container {
    const record = this.#require(uuid);
    const root = this.#tokens.root;
    const caller: Caller = { tokenUuid: record.locked_by_uuid ?? root.uuid, userUuid: root.userUuid, admin: true };
    const next = updateContainer(record, attrs, this.#service.context(caller));
    this.#service.commit(record, next);
    return renderContainer(next) as Container;
  }
}
