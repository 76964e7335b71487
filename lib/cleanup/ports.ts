import type { ClusterConfig } from "../config/types.js";
import type { ActiveEntries } from "../model/active-entries.js";
import type { ContainerState } from "../model/container.js";
import type { ContainerApi } from "../model/container-api.js";
import type { HeldLock } from "../model/container.js";
import type { DispatchState } from "../model/dispatch-state.js";
import type { QueueEntry } from "../model/entry.js";
import type { InstanceCloud, WorkerCloud } from "../model/instance-cloud.js";
import type { SharedValue } from "../model/shared-value.js";
import type { WorkerIdleTable } from "../model/worker.js";
import type { TypeChoiceDeps } from "../queue/assign-types.js";
import type { TypeChoiceTable } from "../queue/ports.js";

/** The queue as cleanup uses it (lib/queue's Queue): the cache with its threshold, and the §1.9 actions. */
export interface CleanupQueue extends Pick<TypeChoiceDeps["queue"], "lock" | "setRuntimeError" | "cancel" | "forget"> {
  entries(): Promise<{ entries: Map<string, QueueEntry>; threshold: Date | undefined }>;
  unlock(uuid: string): Promise<unknown>;
  heldLock(uuid: string): Promise<HeldLock | undefined>;
}

/** The queue table as cleanup uses it: type choice's part, and dropping a dead launch's record. */
export interface CleanupTable extends TypeChoiceTable {
  /** False when the entry records another instance. */
  clearLaunch(uuid: string, instanceId: string): Promise<boolean>;
}

/**
 * What cleanup reads in place of a scan (lib/cleanup/live-entries.ts): the live entries from the
 * `active` index, and from `#queue` and the queue index the threshold and the finished uuids.
 */
export interface CleanupLiveDeps {
  entries: ActiveEntries;
  /** Undefined when the queue index is not whole (then cleanup scans). */
  cacheMeta(): Promise<
    { threshold: Date | undefined; finished: { uuid: string; state: ContainerState }[] } | undefined
  >;
}

/** Everything a cleanup pass works with; the handler builds the clients and passes them in. */
export interface CleanupDeps {
  queue: CleanupQueue;
  store: CleanupTable;
  api: Pick<ContainerApi, "getContainer" | "getContainerMounts">;
  cloud: Pick<InstanceCloud, "list" | "terminate">;
  /** The worker channel, to stop one container on a pool worker without ending its neighbours (issue #18). */
  channel?: Pick<WorkerCloud, "kill">;
  /** When each pool worker was first seen idle (the TimeoutIdle backstop); absent: no backstop. */
  workerIdle?: WorkerIdleTable;
  state: SharedValue<DispatchState>;
  config: ClusterConfig;
  now?: () => number;
  /** Read the live entries from the `active` index (no scan). Absent: `queue.entries()`. */
  live?: CleanupLiveDeps;
}
