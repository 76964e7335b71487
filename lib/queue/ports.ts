import type { ContainerStateChange, QueuedContainer } from "../model/container.js";
import type { InstanceResources, QueueEntry, TypeDecision } from "../model/entry.js";

/**
 * The queue table as the Queue uses it (lib/store's QueueStore). Every write is conditional;
 * `false` means its condition did not hold (another invocation won, or the entry moved on).
 */
export interface QueueTable {
  get(uuid: string): Promise<QueueEntry | undefined>;
  /** Every entry, and the threshold read before them (ISO start of the last successful update). */
  scan(): Promise<{ entries: Map<string, QueueEntry>; meta: { threshold?: string }; unmarked?: ReadonlySet<string> }>;
  insertNew(entry: QueueEntry): Promise<boolean>;
  replacePolled(container: QueuedContainer, updateStartedAt: string, nowMs: number): Promise<boolean>;
  /** replacePolled, telling a local change that won ("localChange") from an entry that is gone ("absent"). */
  replacePolledOutcome(
    container: QueuedContainer,
    updateStartedAt: string,
    nowMs: number,
  ): Promise<"written" | "localChange" | "absent">;
  /** The `#queue` item: whether the queue index is whole, and with how many shards. */
  meta(): Promise<{ indexShards?: number }>;
  deleteAbsent(uuid: string, updateStartedAt: string): Promise<boolean>;
  forget(uuid: string): Promise<boolean>;
  /** Applies a Lock/Unlock/Cancel reply to a cached entry; undefined when the entry is absent. */
  applyStateChange(change: ContainerStateChange, changedAt: Date): Promise<QueueEntry | undefined>;
  acquireUpdateLease(owner: string, nowMs: number, leaseMs: number): Promise<boolean>;
  releaseUpdateLease(owner: string): Promise<boolean>;
  setThreshold(owner: string, updateStartedAt: string, tokenUuid: string): Promise<boolean>;
}

/** The queue table as type choice uses it: read an entry, record its types once. */
export interface TypeChoiceTable {
  get(uuid: string): Promise<QueueEntry | undefined>;
  /** False when the entry is gone or already has types (a redelivered record). */
  setInstanceTypes(
    uuid: string,
    typeNames: readonly string[],
    resources: InstanceResources,
    decision: TypeDecision,
  ): Promise<boolean>;
}
