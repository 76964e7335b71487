import type { LaunchIntent, QueueEntry } from "../model/entry.js";
import type { InstanceView } from "../model/instance.js";
import { parseBatchKey } from "../model/worker-batch.js";

/** A live instance is booting or running: it can run, or is running, its container. */
export function isLive(instance: InstanceView): boolean {
  return instance.state === "pending" || instance.state === "running";
}

/** A present instance still exists and is not already on its way out: terminating it means something. */
export function isPresent(instance: InstanceView): boolean {
  return instance.state !== "terminated" && instance.state !== "shutting-down";
}

/** An instance that counts against MaxInstances and the account quota until it is terminated (§4.1). */
export function countsTowardQuota(instance: InstanceView): boolean {
  return instance.state !== "terminated";
}

/**
 * The entry's launch record if it belongs to the current lock. The record is written after the
 * lock, so a Lock/Unlock made later (`localChangeAt`) means it is left over from an earlier
 * attempt; a Queued container holds no lock, so any record it carries is left over too.
 */
export function currentLaunch(entry: QueueEntry): QueueEntry["launch"] {
  const launch = entry.launch;
  if (launch === undefined || entry.container.state === "Queued") return undefined;
  if (entry.localChangeAt !== undefined && Date.parse(launch.launchedAt) < Date.parse(entry.localChangeAt)) {
    return undefined;
  }
  return launch;
}

/**
 * The entry's launch intent if it belongs to the current lock and no launch of its attempt is
 * recorded: a RunInstances call whose outcome the table does not know, so an instance may exist
 * that the listing does not show yet. Stale like a launch record (`currentLaunch`): a Queued
 * container holds no lock, and a Lock/Unlock made after the intent was written starts another
 * attempt. The launcher also compares `attempt` with the lock_count Arvados reports.
 */
export function currentIntent(entry: QueueEntry): QueueEntry["launchIntent"] {
  const intent = entry.launchIntent;
  if (intent === undefined || entry.container.state === "Queued") return undefined;
  if (entry.localChangeAt !== undefined && Date.parse(intent.writtenAt) < Date.parse(entry.localChangeAt)) {
    return undefined;
  }
  if (entry.launch !== undefined && entry.launch.attempt >= intent.attempt) return undefined;
  return intent;
}

/** The instances bound to one entry: the one its current launch record names, and any tagged with its uuid. */
export interface EntryInstances {
  /** The instance the current launch record names, if the listing has it. */
  launched?: InstanceView;
  /** Every listed instance tagged with the container uuid (may include `launched`). */
  tagged: InstanceView[];
}

/**
 * An InstanceIndex answers "which instances belong to which container" for one listing. Built
 * once per pass; read-only afterwards.
 */
export class InstanceIndex {
  readonly byId: ReadonlyMap<string, InstanceView>;
  readonly byContainer: ReadonlyMap<string, readonly InstanceView[]>;

  constructor(readonly instances: readonly InstanceView[]) {
    const byId = new Map<string, InstanceView>();
    const byContainer = new Map<string, InstanceView[]>();
    for (const inst of instances) {
      byId.set(inst.instanceId, inst);
      if (inst.containerUuid !== undefined && inst.containerUuid !== "") {
        const list = byContainer.get(inst.containerUuid) ?? [];
        list.push(inst);
        byContainer.set(inst.containerUuid, list);
      }
    }
    this.byId = byId;
    this.byContainer = byContainer;
  }

  /** The instances bound to `entry`. */
  forEntry(entry: QueueEntry): EntryInstances {
    const launch = currentLaunch(entry);
    const launched = launch === undefined ? undefined : this.byId.get(launch.instanceId);
    return { launched, tagged: [...(this.byContainer.get(entry.container.uuid) ?? [])] };
  }

  /** Every distinct instance bound to `entry` (launch record first). */
  allFor(entry: QueueEntry): InstanceView[] {
    const { launched, tagged } = this.forEntry(entry);
    const all = launched === undefined ? [] : [launched];
    for (const inst of tagged) if (inst !== launched) all.push(inst);
    return all;
  }

  /** The live instances bound to `entry`: upstream's "running on a worker". */
  liveFor(entry: QueueEntry): InstanceView[] {
    return this.allFor(entry).filter(isLive);
  }

  /** True when the entry's current launch record names an instance the listing does not have. */
  launchUnlisted(entry: QueueEntry): boolean {
    const launch = currentLaunch(entry);
    return launch !== undefined && !this.byId.has(launch.instanceId);
  }
}

/**
 * The instance an open intent may have started for this container: its call's token and, for a
 * batched call, the launch index of the item naming it (a one-container call starts one).
 */
export function intentInstanceKey(uuid: string, intent: LaunchIntent): string {
  const batch = intent.batch === undefined ? [] : parseBatchKey(intent.batch);
  const index = batch.findIndex((members) => members.some((m) => m.containerUuid === uuid));
  return `${intent.clientToken}#${Math.max(0, index)}`;
}
