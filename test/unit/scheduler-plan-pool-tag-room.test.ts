import { describe, expect, test } from "vitest";
import type { QueueEntry } from "../../lib/model/entry.js";
import { emptyCapacityState } from "../../lib/model/dispatch-state.js";
import type { InstanceView } from "../../lib/model/instance.js";
import { planPool } from "../../lib/scheduler/plan-pool.js";
import { deriveWorkers } from "../../lib/scheduler/workers.js";
import { at, clusterConfig, containerUuid, entry, instance, instanceId, MINUTE, NOW } from "./scheduler-fixtures.js";

// An order tag per container assigned by tag, and EC2 allows 50 tags per instance: the plan gives
// a worker no more containers by tag than its tags leave room for (worker-channel.ts assignmentTagBudget).

const GiB = 2 ** 30;
function ent(i: number): QueueEntry {
  const e = entry(i, { types: [2] });
  e.instanceResources = { VCPUs: 1, RAM: GiB / 4, Scratch: GiB, GPUs: 0, GPUVRAM: 0 };
  return e;
}
const worker = (room: number | undefined): InstanceView =>
  instance(1, {
    instanceType: "type2",
    worker: true,
    launchTime: at(-MINUTE),
    ...(room === undefined ? {} : { orderTagRoom: room }),
  });

function plan(entries: QueueEntry[], instances: InstanceView[]) {
  const config = clusterConfig();
  return planPool({
    entries,
    instances,
    workers: deriveWorkers({ instances, entries, instanceTypes: config.InstanceTypes }),
    capacity: emptyCapacityState(),
    config,
    settings: { maxRunningContainersPerInstance: 0, timeoutIdleMs: 5 * MINUTE, assignMarginMs: 30_000 },
    now: NOW,
    maxContainers: 0,
  });
}

describe("a worker's tag room bounds what it is given by tag", () => {
  test("room for one order: one container goes to the worker, the other to a new instance", () => {
    const p = plan([ent(1), ent(2)], [worker(1)]);
    expect(p.assign.map((a) => [a.uuid, a.instanceId])).toEqual([[containerUuid(1), instanceId(1)]]);
    expect(p.create.flatMap((g) => g.instances.flat())).toEqual([containerUuid(2)]);
  });

  test("no room: nothing is given to it", () => {
    expect(plan([ent(1)], [worker(0)]).assign).toEqual([]);
  });

  test("room unknown (not listed with tags): resources alone decide, as before", () => {
    expect(plan([ent(1), ent(2)], [worker(undefined)]).assign).toHaveLength(2);
  });
});
