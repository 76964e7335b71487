import type { ClusterConfig } from "../config/types.js";
import type { QueueEntry } from "../model/entry.js";
import type { IdleBehavior, InstanceView } from "../model/instance.js";

/** The queue as the API reads it: the table, never Arvados. */
export interface QueueReader {
  /** Every cached entry (a consistent scan). */
  entries(): Promise<ReadonlyMap<string, QueueEntry>>;
  /** One cached entry (a consistent read), or undefined. */
  entry(uuid: string): Promise<QueueEntry | undefined>;
}

/** Our instances as the API lists and changes them (lib/cloud's Ec2InstanceCloud). */
export interface InstanceControl {
  list(): Promise<InstanceView[]>;
  setIdleBehavior(instanceId: string, behavior: IdleBehavior): Promise<void>;
  terminate(instanceIds: readonly string[]): Promise<void>;
}

/** Everything the dispatch API works with; lib/runtime wires the table and EC2. */
export interface DispatchApiDeps {
  queue: QueueReader;
  instances: InstanceControl;
  /** The ManagementToken; undefined or "" when none is configured: every request is then refused (403), as upstream. */
  managementToken: () => Promise<string | undefined>;
  config: ClusterConfig;
  now?: () => number;
}
