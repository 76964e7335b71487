import type { QueuedContainer } from "../arvados/types.js";
import type { InstanceType } from "../config/types.js";

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
}

/**
 * A QueueEntry is one cached container (upstream QueueEnt): the polled container fields plus
 * what this dispatcher decided and did. `instanceTypes` is absent until choose-instance-types
 * fills it; an entry without types is never launched.
 */
export interface QueueEntry {
  container: QueuedContainer;
  /** Eligible types, cheapest first (§2.5). */
  instanceTypes?: InstanceType[];
  instanceResources?: InstanceResources;
  typeDecision?: TypeDecision;
  /** ISO time the dispatcher first saw the container. */
  firstSeenAt: string;
  /** ISO time of the last Lock/Unlock/Cancel made by this dispatcher (upstream `dontupdate`). */
  localChangeAt?: string;
  launch?: LaunchRecord;
  /** Optimistic-concurrency counter, bumped by every write. */
  version: number;
}
