import type { QueueEntry } from "../model/entry.js";
import type { InstanceView } from "../model/instance.js";
import { errorCode } from "../observability/error-code.js";
import { planUnassign } from "../scheduler/stale-orders.js";
import type { PoolDeps } from "./ports.js";

/** What removing stale orders did in one pass. */
export interface UnassignOutcome {
  /** The listing with each worker's removed orders gone and its tag room grown by as many. */
  instances: InstanceView[];
  removed: number;
  /** Error codes of DeleteTags calls that failed: the next pass tries again. */
  errors: string[];
}

/**
 * Removes the stale order tags of this pass (lib/scheduler/stale-orders.ts), before planning, so
 * the room they free is counted when containers are assigned by tag. A failed call costs nothing
 * but the room: its orders stay listed for the next pass. Stops when `mayContinue` says the time
 * budget is spent.
 */
export async function removeStaleOrders(
  pool: PoolDeps,
  entries: readonly QueueEntry[],
  instances: readonly InstanceView[],
  mayContinue: () => boolean,
): Promise<UnassignOutcome> {
  const outcome: UnassignOutcome = { instances: [...instances], removed: 0, errors: [] };
  const removedFrom = new Map<string, ReadonlySet<string>>();
  for (const call of planUnassign(entries, instances)) {
    if (!mayContinue()) break;
    try {
      await pool.cloud.unassign(call.instanceId, call.orders);
      removedFrom.set(call.instanceId, new Set(call.orders.map((o) => o.containerUuid)));
      outcome.removed += call.orders.length;
    } catch (err) {
      outcome.errors.push(errorCode(err));
    }
  }
  outcome.instances = instances.map((inst) => {
    const gone = removedFrom.get(inst.instanceId);
    if (gone === undefined || inst.orders === undefined) return inst;
    return {
      ...inst,
      orders: inst.orders.filter((o) => !gone.has(o.containerUuid)),
      orderTagRoom: (inst.orderTagRoom ?? 0) + gone.size,
    };
  });
  return outcome;
}
