import type { ClusterConfig } from "../config/types.js";
import type { ActiveEntries, LaunchWrites } from "../model/active-entries.js";
import type { HeldLock } from "../model/container.js";
import type { DispatchState } from "../model/dispatch-state.js";
import type { LaunchIntent, LaunchRecord, QueueEntry } from "../model/entry.js";
import type { InstanceCloud, WorkerCloud } from "../model/instance-cloud.js";
import type { PoolSettings, WorkerIdleTable } from "../model/worker.js";
import type { SharedValue } from "../model/shared-value.js";

/**
 * The ports a launch pass works through, each as narrow as the pass needs (upstream's
 * `scheduler/interfaces.go`): the handler wires lib/queue's Queue, lib/store's QueueStore,
 * SharedState and LaunchTokens, and lib/cloud's instances; tests wire recording fakes.
 */

/** The queue as a launch pass uses it: the cached entries, lock and unlock, and who holds a lock. */
export interface LaunchQueue {
  entries(): Promise<{ entries: Map<string, QueueEntry> }>;
  /** §1.9 Lock; rejects when Arvados refuses (another dispatcher holds it, priority 0, cancelled). */
  lock(uuid: string): Promise<unknown>;
  /** §1.9 Unlock. */
  unlock(uuid: string): Promise<unknown>;
  /** The lock our token holds on the container as Arvados says now; undefined when it holds none. */
  heldLock(uuid: string): Promise<HeldLock | undefined>;
  /** Time of the last Arvados 503 this invocation saw (§3.3 dynamic limit), or undefined. */
  lastApi503(): Date | undefined;
}

/**
 * The launch pass's writes to the queue table. Every one is conditional; `false` means its
 * condition did not hold. `writeLaunchIntent` and `recordLaunch` reject with StaleEntryError
 * when the entry is no longer this invocation's to launch.
 */
export interface LaunchTable {
  /** One pass plans at a time per deployment, so MaxInstances holds exactly. */
  acquireLaunchPassLease(owner: string, nowMs: number, leaseMs: number): Promise<boolean>;
  releaseLaunchPassLease(owner: string): Promise<boolean>;
  /** One invocation at a time locks and launches one entry. */
  claimEntry(uuid: string, owner: string, nowMs: number, leaseMs: number): Promise<boolean>;
  releaseEntry(uuid: string, owner: string): Promise<boolean>;
  /** Written before each RunInstances call; `replaces` is the ClientToken of the call it follows. */
  writeLaunchIntent(uuid: string, owner: string, intent: LaunchIntent, replaces?: string): Promise<void>;
  clearLaunchIntent(uuid: string, owner: string, clientToken: string): Promise<boolean>;
  recordLaunch(uuid: string, launch: LaunchRecord): Promise<void>;
  /** Stores why a waiting container waits (§3.3 status table), for the dispatch API. */
  setSchedulingStatus(uuid: string, status: string): Promise<boolean>;
}

/** The deployment-wide RunInstances bucket (EC2's request rate: burst 5, 2 a second). */
export interface LaunchBucket {
  /** Takes one token, waiting at most `maxWaitMs`; false when none came in time. */
  takeWithin(maxWaitMs: number): Promise<boolean>;
}

/** Everything a launch pass works with; the handler builds the clients and passes them in. */
export interface LaunchDeps {
  queue: LaunchQueue;
  store: LaunchTable;
  cloud: Pick<InstanceCloud, "launch" | "list">;
  state: SharedValue<DispatchState>;
  tokens: LaunchBucket;
  config: ClusterConfig;
  /** Identifies this invocation in leases. */
  owner: string;
  now?: () => number;
  /** How long a pass works from one plan before planning again (default replanAfterMs). */
  replanMs?: number;
  /**
   * Pool mode (issue #18, `WORKER_MODE=pool`): workers that outlive containers, batched creates.
   * Absent: one instance per container.
   */
  pool?: PoolDeps;
  /** Read the live entries from the `active` index (no scan). Absent: `queue.entries()`. */
  live?: LiveEntriesDeps;
}

/**
 * What a launch pass reads of the live entries in place of `LaunchQueue.entries()`'s scan
 * (lib/launch/live-entries.ts): the `active` index, launch's recent writes, and the entries
 * the stream records that woke the pass carry.
 */
export interface LiveEntriesDeps {
  entries: ActiveEntries;
  writes: LaunchWrites;
  /** Entries as the stream records that woke this pass carry them (their new images). */
  fresher: readonly QueueEntry[];
}

/** What a pool-mode launch pass needs besides the rest: the worker channel and the pool's settings. */
export interface PoolDeps {
  cloud: WorkerCloud;
  settings: PoolSettings;
  /**
   * Cleanup's idle-since records (one read a pass), so a worker about to power off after
   * TimeoutIdle is given nothing new (PoolSettings.assignMarginMs). Absent: idle time unknown.
   */
  idle?: Pick<WorkerIdleTable, "idleSince">;
}
