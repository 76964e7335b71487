/**
 * Which order tags a launch pass removes from pool workers (issue #18): those of containers that
 * are final, gone from the queue, or (for a `run` order) no longer assigned to that worker with
 * that attempt. Tags count against EC2's 50 per instance (worker-channel.ts `assignmentTagBudget`),
 * so stale ones would in time leave a worker no room for orders.
 *
 * Why the launch pass and not cleanup: launch is the only writer of `run` orders and one pass
 * plans at a time (its lease), so its snapshot can never be older than a `run` tag it sees: it
 * never removes an order made after it read the entries, which cleanup (reading the entries,
 * then listing) could, leaving a container Locked on a worker that never heard of it until
 * TimeoutBooting. A `kill` order (cleanup's) is kept while its container may still be running
 * somewhere: the agent signals crunch-run every poll until TimeoutTERM; it goes once the
 * container is final or forgotten. And launch needs the room at the moment it assigns.
 */
import { isFinalState } from "../model/container.js";
import type { QueueEntry } from "../model/entry.js";
import type { InstanceView, ListedOrder } from "../model/instance.js";
import { currentLaunch } from "./instances.js";

/**
 * DeleteTags calls a pass makes at most. EC2 meters each call against the account's request
 * budget for mutating calls, shared with the assignments and kills of this dispatcher and with
 * every other tool in the account; removals are bookkeeping, so a pass spends a few calls on them,
 * the fullest workers first, and leaves the rest to the next pass.
 */
export const maxUnassignCallsPerPass = 10;

/** One DeleteTags: these orders off this worker. */
export interface Unassign {
  instanceId: string;
  orders: ListedOrder[];
}

/** Whether a listed order on `instanceId` no longer does anything the dispatcher wants. */
function isStale(order: ListedOrder, instanceId: string, entry: QueueEntry | undefined): boolean {
  if (entry === undefined || isFinalState(entry.container.state)) return true;
  if (order.action === "kill") return false;
  const launch = currentLaunch(entry);
  return launch === undefined || launch.instanceId !== instanceId || launch.attempt !== order.attempt;
}

/**
 * The removals of one pass: per pool worker, its stale orders in one call; workers with the least
 * tag room first; at most `maxCalls` calls. Pure.
 */
export function planUnassign(
  entries: readonly QueueEntry[],
  instances: readonly InstanceView[],
  maxCalls = maxUnassignCallsPerPass,
): Unassign[] {
  const byUuid = new Map(entries.map((e) => [e.container.uuid, e]));
  const out: (Unassign & { room: number })[] = [];
  for (const inst of instances) {
    if (inst.worker !== true || inst.orders === undefined) continue;
    if (inst.state !== "pending" && inst.state !== "running") continue;
    const stale = inst.orders.filter((o) => isStale(o, inst.instanceId, byUuid.get(o.containerUuid)));
    if (stale.length > 0) out.push({ instanceId: inst.instanceId, orders: stale, room: inst.orderTagRoom ?? 0 });
  }
  out.sort((a, b) => a.room - b.room || (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
  return out.slice(0, maxCalls).map(({ instanceId, orders }) => ({ instanceId, orders }));
}
