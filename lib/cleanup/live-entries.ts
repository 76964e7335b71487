import type { ContainerState } from "../model/container.js";
import type { QueueEntry } from "../model/entry.js";
import type { InstanceView } from "../model/instance.js";
import type { ReconcilePlan } from "../scheduler/plan-reconcile.js";
import type { CleanupLiveDeps } from "./ports.js";

/** What cleanup reads of the cache in place of a scan. */
export interface CleanupCache {
  entries: Map<string, QueueEntry>;
  threshold: Date | undefined;
  /** Finished containers the queue index holds (to forget), with their state. */
  finished: { uuid: string; state: ContainerState }[];
}

/**
 * The cache as cleanup reads it without a scan: the threshold and the finished uuids from
 * `#queue` and the queue index (read consistently, threshold first), then the live entries from
 * the `active` index (eventually consistent: see verifyPlan). Undefined when the queue index is
 * not whole (a crashed update): the caller scans, as before.
 */
export async function readCleanupCache(live: CleanupLiveDeps): Promise<CleanupCache | undefined> {
  const meta = await live.cacheMeta();
  if (meta === undefined) return undefined;
  const entries = await live.entries.query();
  return { entries, threshold: meta.threshold, finished: meta.finished };
}

/**
 * Adds the finished entries that instances name (their container tag): read consistently, so
 * "the container finished" terminates an instance as a scan would have shown it, without
 * reading every other finished entry. Bounded by the instances, not by the table.
 */
export async function addNamedFinished(
  live: CleanupLiveDeps,
  cache: CleanupCache,
  instances: readonly InstanceView[],
): Promise<void> {
  const finished = new Set(cache.finished.map((f) => f.uuid));
  const named = instances
    .map((i) => i.containerUuid)
    .filter((uuid): uuid is string => uuid !== undefined && finished.has(uuid) && !cache.entries.has(uuid));
  if (named.length === 0) return;
  for (const [uuid, entry] of await live.entries.getConsistent(named)) cache.entries.set(uuid, entry);
}

/**
 * Keeps only the actions whose entries the index showed as they are: each entry a cancel,
 * requeue, kill or termination acts on is read again consistently (after the listing), and an
 * action whose entry changed since (another version) or is gone waits for the next pass, which
 * judges it from fresher data. An unchanged version means the entry was that at the listing
 * too (versions only grow), so every "instance gone" judgement still compares the listing with
 * the cache as it was then. Forgets need no check: the delete itself is conditional on the
 * entry being finished or on hold. Terminations of instances with no entry (not ours, orphans
 * Arvados confirmed) need none either.
 */
export async function verifyPlan(
  live: CleanupLiveDeps,
  plan: ReconcilePlan,
  entries: ReadonlyMap<string, QueueEntry>,
  instances: readonly InstanceView[],
): Promise<ReconcilePlan> {
  const ofInstance = new Map<string, string>();
  for (const e of entries.values()) if (e.launch !== undefined) ofInstance.set(e.launch.instanceId, e.container.uuid);
  for (const i of instances)
    if (i.containerUuid !== undefined && entries.has(i.containerUuid)) ofInstance.set(i.instanceId, i.containerUuid);
  const acted = new Set([
    ...plan.cancel.map((c) => c.uuid),
    ...plan.unlock.map((u) => u.uuid),
    ...plan.kill.map((k) => k.containerUuid),
    ...plan.terminate.flatMap((t) => ofInstance.get(t.instanceId) ?? []),
  ]);
  if (acted.size === 0) return plan;
  const fresh = await live.entries.getConsistent([...acted]);
  const same = (uuid: string) => {
    const planned = entries.get(uuid);
    const now = fresh.get(uuid);
    return planned === undefined || (now !== undefined && now.version === planned.version);
  };
  return {
    ...plan,
    cancel: plan.cancel.filter((c) => same(c.uuid)),
    unlock: plan.unlock.filter((u) => same(u.uuid)),
    kill: plan.kill.filter((k) => same(k.containerUuid)),
    terminate: plan.terminate.filter((t) => {
      const uuid = ofInstance.get(t.instanceId);
      return uuid === undefined || same(uuid);
    }),
  };
}
