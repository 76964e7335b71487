import type { QueueEntry } from "../model/entry.js";
import type { InstanceView } from "../model/instance.js";
import type { InstanceType } from "../model/instance-type.js";
import type { WorkerIdleTable } from "../model/worker.js";
import { planWorkerIdle, type WorkerIdlePlan } from "../scheduler/worker-idle.js";
import { deriveWorkers } from "../scheduler/workers.js";

/** What the TimeoutIdle backstop needs of a cleanup pass. */
export interface IdleWorkersInput {
  table: WorkerIdleTable;
  entries: readonly QueueEntry[];
  instances: readonly InstanceView[];
  instanceTypes: Readonly<Record<string, InstanceType>>;
  now: number;
  timeoutIdleMs: number;
}

/**
 * The backstop's plan for this pass (lib/scheduler/worker-idle.ts), reading the records once;
 * undefined when no pool worker is listed, so a per-container deployment reads nothing more. (A
 * record of a worker gone meanwhile then waits for the next pool worker to be removed: EC2
 * never reuses an instance id, so it is never consulted.)
 */
export async function planIdleWorkers(input: IdleWorkersInput): Promise<WorkerIdlePlan | undefined> {
  if (!input.instances.some((i) => i.worker === true)) return undefined;
  const records = await input.table.idleSince();
  // Without the records: lastBusyAt is then what the entries alone say (planWorkerIdle).
  const workers = deriveWorkers({
    instances: input.instances,
    entries: input.entries,
    instanceTypes: input.instanceTypes,
  });
  return planWorkerIdle({ workers, records, now: input.now, timeoutIdleMs: input.timeoutIdleMs });
}
