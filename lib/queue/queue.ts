import { apiStatus, type ContainerApi } from "../model/container-api.js";
import type { Container, ContainerStateChange, HeldLock, QueuedContainer } from "../model/container.js";
import { isContainerState } from "../model/container.js";
import type { QueueTable } from "./ports.js";
import { fingerprint, type QueueIndex, type QueueIndexPort } from "../model/queue-index.js";
import { type CacheView, cachedStates, planWritesFromIndex, viewOfEntries } from "./cache-view.js";
import { type PollResult, pollFilters, pollMissing } from "./poll.js";
import type { QueueEntry } from "../model/entry.js";
import { runBounded } from "../model/run-bounded.js";
import { type WritePlan, planWrites, settleAll } from "./write-plan.js";

/** Another invocation holds the update lease; this one should exit without polling. */
export class UpdateLeaseHeldError extends Error {
  override readonly name = "UpdateLeaseHeldError";
  constructor() {
    super("another update-queue invocation holds the update lease");
  }
}

/**
 * An update that reached its write deadline (the end of its lease) stopped writing: what it
 * wrote stays (every write is conditional and idempotent), the index is left not whole, and
 * the next update scans and goes on from there.
 */
export class UpdateDeadlineError extends Error {
  override readonly name = "UpdateDeadlineError";
  constructor() {
    super("the update reached the end of its lease and stopped writing");
  }
}

/** A lock/unlock/cancel reply that lacks the fields the cache needs. */
export class MalformedStateChangeError extends Error {
  override readonly name = "MalformedStateChangeError";
  constructor(readonly containerUuid: string) {
    super(`container ${containerUuid}: state change reply lacks state or priority`);
  }
}

/** What one update did, for logs, metrics and benchmarks. */
export interface UpdateReport {
  startedAt: string;
  apiRequests: number;
  inserted: number;
  replaced: number;
  removed: number;
  /** Writes skipped because a local Lock/Unlock/Cancel during the poll won (upstream `dontupdate`). */
  skippedForLocalChange: number;
  /**
   * Entries after the update, when it read the whole table (a Queue without an index, or one
   * rebuilding it); empty when it read the queue index.
   */
  entries: QueueEntry[];
  /** Containers cached after the update. */
  cached: number;
  /** Whether the update read the queue index (false: it scanned the table). */
  readIndex: boolean;
  /** Cached containers Queued or Locked after the update: the ones a launch pass could act on. */
  waiting: number;
}

/** How a caller runs one update (see Queue.update). */
export interface UpdateOptions {
  /** The caller already holds the update lease (a tick claimed it with the lease). */
  leaseTaken?: boolean;
  /** `#queue`'s indexShards as the caller just read it (0: no whole index); the update then does not read `#queue` itself. */
  indexShards?: number;
  /**
   * The closing write in place of setThreshold (a tick's: threshold, lease and chain in one
   * write); false when the lease was lost.
   */
  finish?: (updateStartedAt: string, tokenUuid: string, waiting: number) => Promise<boolean>;
  /**
   * Epoch ms past which the update starts no write (its lease ends then): a tick's lease is not
   * released by a write of its own but taken over by the next claim, so it must never outlive it.
   */
  writeDeadline?: number;
}

export interface QueueOptions {
  /** Identifies this invocation as the holder of the update lease. */
  leaseOwner: string;
  /** How long the lease lasts unless renewed: longer than one update can take. */
  leaseMs: number;
  /** Writes in flight at once during an update. */
  writeConcurrency?: number;
  clock?: () => Date;
  /** The queue index: steady updates read it instead of scanning the table (lib/store/queue-index.ts). */
  index?: QueueIndexPort;
}

/**
 * A Queue is the dispatcher's view of the Arvados container queue, cached in the queue table
 * (upstream `container.Queue`). `entries`, `get` and `forget` touch only the table; `update`,
 * `lock`, `unlock` and `cancel` block until the Arvados API answers. The table's stream is the
 * change notification that upstream's Subscribe gives: every write below appears on it once.
 *
 * Freshness: `entries()` returns a threshold, the start time of the last successful update. A
 * caller that wants the outcome of a remote process must wait until threshold > the time that
 * process exited.
 */
export class Queue {
  private readonly clock: () => Date;

  constructor(
    private readonly api: ContainerApi,
    private readonly store: QueueTable,
    private readonly options: QueueOptions,
  ) {
    this.clock = options.clock ?? (() => new Date());
  }

  /**
   * The uuid of the dispatcher's current token (§1.6). The client asks the server once per token
   * value, so after a rotation locks are compared with the new token's uuid.
   */
  async tokenUuid(): Promise<string> {
    return (await this.api.currentAuthorization()).uuid;
  }

  /**
   * The lock our token holds on the container as Arvados says now (state Locked or Running,
   * with its lock_count), or undefined: another token holds it, nobody does, or Arvados has no
   * such container (404). Other API errors reject. One answer for launch, type choice and
   * cleanup's orphan check.
   */
  async heldLock(uuid: string): Promise<HeldLock | undefined> {
    const [tokenUuid, record] = await Promise.all([
      this.tokenUuid(),
      this.api.getContainer(uuid, ["uuid", "state", "lock_count", "locked_by_uuid"]).catch((err: unknown) => {
        if (apiStatus(err) === 404) return undefined;
        throw err;
      }),
    ]);
    if (record === undefined || record.locked_by_uuid !== tokenUuid) return undefined;
    if (record.state !== "Locked" && record.state !== "Running") return undefined;
    return { state: record.state, lockCount: typeof record.lock_count === "number" ? record.lock_count : undefined };
  }

  /** Time of the last 503 the API answered this invocation (§3.3 dynamic limit), or undefined. */
  lastApi503(): Date | undefined {
    return this.api.last503();
  }

  /** Every cached entry and the freshness threshold (undefined before the first successful update). */
  async entries(): Promise<{ entries: Map<string, QueueEntry>; threshold: Date | undefined }> {
    const { entries, meta } = await this.store.scan();
    return { entries, threshold: meta.threshold === undefined ? undefined : new Date(meta.threshold) };
  }

  /** The cached container, or undefined if it is not in the queue. */
  async get(uuid: string): Promise<QueuedContainer | undefined> {
    return (await this.store.get(uuid))?.container;
  }

  /** §1.4: drop a finished or on-hold entry; a no-op (false) for anything else or an absent uuid. */
  forget(uuid: string): Promise<boolean> {
    return this.store.forget(uuid);
  }

  /**
   * §1.5 Update: poll the API, then bring the table in line with it, writing only what changed.
   * Fails without writing any entry if the poll fails; on success the threshold becomes this
   * update's start time. Rejects with UpdateLeaseHeldError while another update runs. `leaseMs`
   * bounds how long a crashed update can block the next: a handler passes its remaining time.
   */
  async update(leaseMs = this.options.leaseMs, options: UpdateOptions = {}): Promise<UpdateReport> {
    const started = this.clock();
    const startedAt = started.toISOString();
    if (
      options.leaseTaken !== true &&
      !(await this.store.acquireUpdateLease(this.options.leaseOwner, started.getTime(), leaseMs))
    ) {
      throw new UpdateLeaseHeldError();
    }
    const tokenUuid = await this.tokenUuid();
    // The filtered lists do not need the cache, so they run while it is read; both finish (or
    // fail) before anything else happens, so no request of a failed update is left in flight.
    const [cache, filtered] = await settleAll([
      this.readCache(options.indexShards),
      pollFilters(this.api, tokenUuid),
    ] as const);
    const poll: PollResult = await pollMissing(this.api, filtered, cachedStates(cache));
    const plan = cache.entries !== undefined ? planWrites(cache.entries, poll) : planWritesFromIndex(cache.index, poll);
    // Live entries an older version wrote without the `active` mark: rewritten, so launch and cleanup see them.
    for (const uuid of cache.unmarked ?? []) {
      const container = poll.next.get(uuid);
      if (container !== undefined && !plan.replace.some((c) => c.uuid === uuid)) plan.replace.push(container);
    }
    const report = await this.apply(plan, cache, startedAt, options.writeDeadline);
    const finished = options.finish
      ? await options.finish(startedAt, tokenUuid, report.waiting)
      : await this.store.setThreshold(this.options.leaseOwner, startedAt, tokenUuid);
    if (!finished) {
      // Lost the lease mid-update (it expired and another invocation took it): our writes were
      // all conditional and stay valid, but the threshold is the lease holder's to advance.
      throw new UpdateLeaseHeldError();
    }
    return { ...report, apiRequests: poll.requests };
  }

  /** The update lease's owner: a tick that takes the lease for this Queue claims it in this name. */
  get leaseOwner(): string {
    return this.options.leaseOwner;
  }

  /** The cache as an update sees it: the queue index when it is whole, else a scan. */
  private async readCache(knownShards?: number): Promise<CacheView> {
    const index = this.options.index;
    if (index !== undefined) {
      const indexShards = knownShards ?? (await this.store.meta()).indexShards;
      const snapshot = typeof indexShards === "number" && indexShards > 0 ? await index.read(indexShards) : undefined;
      if (snapshot !== undefined) return { index: snapshot.index, snapshot };
    }
    const { entries, unmarked } = await this.store.scan();
    return { ...viewOfEntries(entries), unmarked };
  }

  /** Release the update lease early so the next invocation need not wait for it to expire. */
  async releaseUpdateLease(): Promise<void> {
    await this.store.releaseUpdateLease(this.options.leaseOwner);
  }

  private async apply(
    plan: WritePlan,
    cache: CacheView,
    startedAt: string,
    writeDeadline = Number.POSITIVE_INFINITY,
  ): Promise<Omit<UpdateReport, "apiRequests">> {
    const inTime =
      <T>(write: () => Promise<T>) =>
      async (): Promise<T> => {
        if (this.clock().getTime() > writeDeadline) throw new UpdateDeadlineError();
        return write();
      };
    const nowMs = this.clock().getTime();
    const firstSeenAt = this.clock().toISOString();
    const cached = cache.entries ?? new Map<string, QueueEntry>();
    const after = new Map(cached);
    // The index after this update: what each write left in the table, as far as this update knows.
    const nextIndex: QueueIndex = new Map(cache.index);
    const known = (container: QueuedContainer, written: boolean) =>
      nextIndex.set(container.uuid, { state: container.state, fingerprint: written ? fingerprint(container) : "" });
    let skipped = 0;
    const insert = async (container: QueuedContainer) => {
      const entry: QueueEntry = { container, firstSeenAt, version: 1 };
      const written = await this.store.insertNew(entry);
      if (written) after.set(container.uuid, entry);
      // Not written: an entry exists that the index did not know; the next update rewrites it.
      known(container, written);
    };
    const tasks: (() => Promise<void>)[] = [
      ...plan.insert.map((container) => () => insert(container)),
      ...plan.replace.map((container) => async () => {
        const previous = cached.get(container.uuid);
        const outcome = await this.store.replacePolledOutcome(container, startedAt, nowMs);
        if (outcome === "written") {
          if (previous !== undefined) after.set(container.uuid, { ...previous, container });
          known(container, true);
        } else if (outcome === "absent") {
          // Forgotten while polled (e.g. Queued on hold, then given a priority): cache it again.
          after.delete(container.uuid);
          await insert(container);
        } else skipped++;
      }),
      ...plan.remove.map((uuid) => async () => {
        if (await this.store.deleteAbsent(uuid, startedAt)) {
          after.delete(uuid);
          nextIndex.delete(uuid);
        } else skipped++;
      }),
    ];
    const writes = tasks.length > 0;
    const index = this.options.index;
    // The index stops being whole before the first entry write, and is whole again after its own.
    if (index !== undefined && writes) await index.mark(this.options.leaseOwner, undefined);
    await runBounded(tasks.map(inTime), this.options.writeConcurrency ?? 16);
    if (index !== undefined && (writes || cache.snapshot === undefined)) {
      if (this.clock().getTime() > writeDeadline) throw new UpdateDeadlineError();
      const shards = await index.write(nextIndex, cache.snapshot, startedAt);
      if (shards !== undefined) await index.mark(this.options.leaseOwner, shards);
    }
    return {
      startedAt,
      inserted: plan.insert.length,
      replaced: plan.replace.length,
      removed: plan.remove.length,
      skippedForLocalChange: skipped,
      entries: cache.entries === undefined ? [] : [...after.values()],
      cached: nextIndex.size,
      waiting: [...nextIndex.values()].filter((r) => r.state === "Queued" || r.state === "Locked").length,
      readIndex: cache.snapshot !== undefined,
    };
  }

  /** §1.9 Lock: POST …/lock, then apply state, priority and locked_by_uuid to a cached entry. */
  async lock(uuid: string): Promise<ContainerStateChange> {
    return this.applyChange(await this.api.lockContainer(uuid));
  }

  /** §1.9 Unlock: POST …/unlock, then apply the reply to a cached entry. */
  async unlock(uuid: string): Promise<ContainerStateChange> {
    return this.applyChange(await this.api.unlockContainer(uuid));
  }

  /** §1.9 Cancel: PUT container={"state":"Cancelled"}, then apply the reply to a cached entry. */
  async cancel(uuid: string): Promise<ContainerStateChange> {
    const reply = await this.api.updateContainer(uuid, { state: "Cancelled" });
    return this.applyChange(stateChangeFrom(uuid, reply));
  }

  /** §1.8 setRuntimeError: PUT runtime_status.error (the container must be locked by us, §5.5). */
  async setRuntimeError(uuid: string, message: string): Promise<void> {
    await this.api.updateContainer(uuid, { runtime_status: { error: message } }, ["uuid"]);
  }

  private async applyChange(change: ContainerStateChange): Promise<ContainerStateChange> {
    // Never adds an entry: lock/unlock replies lack runtime_constraints (§1.9).
    await this.store.applyStateChange(change, this.clock());
    return change;
  }
}

function stateChangeFrom(uuid: string, reply: Partial<Container>): ContainerStateChange {
  if (!isContainerState(reply.state) || typeof reply.priority !== "bigint") {
    throw new MalformedStateChangeError(uuid);
  }
  return { uuid, state: reply.state, priority: reply.priority, locked_by_uuid: reply.locked_by_uuid ?? null };
}
