import type { QueuedContainer } from "./container.js";
import type { InstanceType } from "./instance-type.js";

/** Resources a container needs on an instance (upstream InstanceResources, §2.1). Bytes for sizes. */
export interface InstanceResources {
  VCPUs: number;
  RAM: number;
  Scratch: number;
  GPUs: number;
  GPUVRAM: number;
}

/** Why a type was or was not chosen for an entry: stored with it so an operator can ask "why this type". */
export interface TypeDecision {
  needed: InstanceResources;
  /** Cheapest accepted price × max(MaximumPriceFactor, 1); 0 when nothing was accepted. */
  maxPrice: number;
  chosen: string[];
  rejected: { name: string; reason: string }[];
}

/** The instance launched for an entry's current lock. */
export interface LaunchRecord {
  instanceId: string;
  instanceType: string;
  subnetId?: string;
  /** The container's lock_count when launched: with the uuid it makes the RunInstances ClientToken. */
  attempt: number;
  launchedAt: string;
  /**
   * How a pool worker got this container: in the user data of the call that launched it
   * (`userData`), or by an order tag on a worker that already existed (`tag`). Absent for the
   * one-instance-per-container mode. A worker whose containers all came in its user data and
   * none has started yet is still booting (lib/scheduler/workers.ts).
   */
  assignedBy?: "userData" | "tag";
}

/**
 * A LaunchIntent is the RunInstances call in flight for an entry's lock, written (conditionally)
 * before the call is sent. While its outcome is unknown (no reply, a server error) the next pass
 * repeats exactly this call: same type, subnet and ClientToken, so EC2 returns the instance it
 * may have started instead of starting another (a re-plan could pick another type or subnet, so
 * another token, while DescribeInstances does not list the first instance yet). It is removed
 * when EC2 answers that the call started nothing, and replaced by the LaunchRecord on success.
 * The same role as the "creating" set of upstream's worker pool, kept where a crash cannot lose it.
 */
export interface LaunchIntent {
  /** The container's lock_count: an intent of an older lock is stale and is ignored. */
  attempt: number;
  /** The Arvados instance type name, one of the entry's `instanceTypes`. */
  instanceType: string;
  /**
   * The type's definition the call was built from. A repeat sends it again, so a redeploy that
   * changes or removes the type cannot change the call's parameters while its outcome is
   * unknown. Absent in intents written before it was kept: the config's definition is used.
   */
  definition?: InstanceType;
  /** The subnet of the call; absent when no subnet is configured. */
  subnetId?: string;
  /** The RunInstances ClientToken the call was sent with; a repeat sends this very token. */
  clientToken: string;
  /** ISO time the intent was written (just before the call). */
  writtenAt: string;
  /**
   * A batched call (pool mode, MaxCount k): the containers of the call, one item per launch
   * index (`uuid:attempt`, several joined by `+` when packed onto one instance; worker-batch.ts),
   * the same list on every entry of the batch. A repeat rebuilds the call from it (user data lines
   * by ami-launch-index, MaxCount = its length), so the repeat sends the very parameters the first
   * call did; this entry's instance is the one whose AmiLaunchIndex is the position of its item.
   * Absent for a one-container call.
   */
  batch?: string[];
}

/**
 * A QueueEntry is one cached container (upstream QueueEnt): the polled container fields plus
 * what this dispatcher decided and did. `instanceTypes` is absent until choose-instance-types
 * fills it; an entry without types is never launched.
 */
export interface QueueEntry {
  container: QueuedContainer;
  /**
   * Names of the eligible types, cheapest first (§2.5). Names, not definitions: planning
   * resolves them against the current config, so a redeploy that changes a type's definition
   * launches the new one, and a type removed from the config is no longer launched.
   */
  instanceTypes?: string[];
  instanceResources?: InstanceResources;
  typeDecision?: TypeDecision;
  /** ISO time the dispatcher first saw the container. */
  firstSeenAt: string;
  /** ISO time of the last Lock/Unlock/Cancel made by this dispatcher (upstream `dontupdate`). */
  localChangeAt?: string;
  launch?: LaunchRecord;
  /** The RunInstances call of the current lock whose outcome is not yet recorded, if any. */
  launchIntent?: LaunchIntent;
  /**
   * Why the container waits, in upstream's words (§3.3 status table), as the last launch pass
   * that changed it said; meaningful only while the container is Queued or Locked. Read by the
   * dispatch API (upstream QueueEnt.scheduling_status).
   */
  schedulingStatus?: string;
  /** Optimistic-concurrency counter, bumped by every write but the scheduling status's. */
  version: number;
}
