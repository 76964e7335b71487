import { describe, expect, test } from "vitest";
import type { InstanceResources, QueueEntry } from "../../lib/model/entry.js";
import { type CapacityState, emptyCapacityState } from "../../lib/model/dispatch-state.js";
import type { InstanceView } from "../../lib/model/instance.js";
import { type PoolPlan, type PoolSettings, planPool } from "../../lib/scheduler/plan-pool.js";
import { deriveWorkers } from "../../lib/scheduler/workers.js";
import {
  at,
  clusterConfig,
  containerUuid,
  entry,
  type EntrySpec,
  instance,
  instanceId,
  MINUTE,
  NOW,
} from "./scheduler-fixtures.js";

const GiB = 2 ** 30;
/** What a container needs (§2.4 shape): `vcpus` VCPUs, a quarter GiB of RAM, 1 GiB of scratch. */
const need = (vcpus: number): InstanceResources => ({ VCPUs: vcpus, RAM: GiB / 4, Scratch: GiB, GPUs: 0, GPUVRAM: 0 });

/** An entry for container i with resources (default 1 VCPU). */
function ent(i: number, spec: EntrySpec & { vcpus?: number } = {}): QueueEntry {
  const e = entry(i, spec);
  e.instanceResources = need(spec.vcpus ?? 1);
  return e;
}

/** Entry i assigned to pool worker w (its current lock's launch record). */
function assigned(
  i: number,
  w: number,
  spec: EntrySpec & { vcpus?: number; by?: "userData" | "tag" } = {},
): QueueEntry {
  return ent(i, {
    state: "Locked",
    ...spec,
    launch: {
      instanceId: instanceId(w),
      instanceType: "type2",
      attempt: 1,
      launchedAt: at(-2 * MINUTE),
      assignedBy: spec.by ?? "userData",
    },
  });
}

/** Pool worker i of type2 (2 VCPUs, 2 GiB). */
const worker = (i: number, overrides: Partial<InstanceView> = {}): InstanceView =>
  instance(i, { instanceType: "type2", worker: true, ...overrides });

const settings: PoolSettings = {
  maxRunningContainersPerInstance: 0,
  timeoutIdleMs: 5 * MINUTE,
  assignMarginMs: 30_000,
};

interface Options {
  instances?: InstanceView[];
  capacity?: CapacityState;
  settings?: Partial<PoolSettings>;
  cloudVMs?: Parameters<typeof clusterConfig>[0];
  idleSince?: Record<string, string>;
}

function plan(entries: QueueEntry[], options: Options = {}): PoolPlan {
  const config = clusterConfig(options.cloudVMs);
  const instances = options.instances ?? [];
  const workers = deriveWorkers({
    instances,
    entries,
    instanceTypes: config.InstanceTypes,
    ...(options.idleSince === undefined ? {} : { idleSince: options.idleSince }),
  });
  return planPool({
    entries,
    instances,
    workers,
    capacity: options.capacity ?? emptyCapacityState(),
    config,
    settings: { ...settings, ...options.settings },
    now: NOW,
    maxContainers: 0,
  });
}

const assigns = (p: PoolPlan) => p.assign.map((a) => [a.uuid, a.instanceId]);
/** Each create group: its type and the containers of each new instance, by launch index. */
const creates = (p: PoolPlan) => p.create.map((g) => [g.instanceType.Name, g.instances]);

describe("§3.3 step 5: an eligible existing worker before a new instance", () => {
  test("a Queued container is locked and given to an idle worker, with no new instance", () => {
    const p = plan([ent(1, { types: [2] })], { instances: [worker(1, { launchTime: at(-MINUTE) })] });
    expect(p.lock).toEqual([containerUuid(1)]);
    expect(assigns(p)).toEqual([[containerUuid(1), instanceId(1)]]);
    expect(p.create).toEqual([]);
    expect(p.statuses[containerUuid(1)]).toBe("Container is allocated to an instance and preparing to run.");
  });

  test("a Locked container without an instance is given to an idle worker, not locked again", () => {
    const p = plan([ent(1, { types: [2], state: "Locked" })], { instances: [worker(1, { launchTime: at(-MINUTE) })] });
    expect(p.lock).toEqual([]);
    expect(assigns(p)).toEqual([[containerUuid(1), instanceId(1)]]);
  });

  test("a booting worker with room takes it, and the status says it waits for the boot", () => {
    const p = plan([assigned(1, 1), ent(2, { types: [2] })], { instances: [worker(1, { state: "pending" })] });
    expect(assigns(p)).toEqual([[containerUuid(2), instanceId(1)]]);
    expect(p.statuses[containerUuid(2)]).toBe("Waiting for a type2 instance to boot and be ready to accept work.");
    expect(p.create).toEqual([]);
  });

  test("an idle or running worker is preferred to a booting one", () => {
    const p = plan([ent(2, { types: [2] })], {
      instances: [worker(1, { state: "pending" }), worker(2, { launchTime: at(-MINUTE) })],
    });
    expect(assigns(p)).toEqual([[containerUuid(2), instanceId(2)]]);
  });

  test("a worker with more containers is preferred (pack busy workers)", () => {
    const busy = assigned(1, 2, { state: "Running" });
    const p = plan([busy, ent(2, { types: [2] })], {
      instances: [worker(1, { launchTime: at(-MINUTE) }), worker(2)],
    });
    expect(assigns(p)).toEqual([[containerUuid(2), instanceId(2)]]);
  });

  test("a worker whose type is not among the container's types is not used", () => {
    const p = plan([ent(1, { types: [1] })], { instances: [worker(1, { launchTime: at(-MINUTE) })] });
    expect(p.assign).toEqual([]);
    expect(creates(p)).toEqual([["type1", [[containerUuid(1)]]]]);
  });
});

describe("§2.6 Accommodates/Sub: containers share a worker while its remaining resources last", () => {
  test("a 2-VCPU worker takes two 1-VCPU containers; the third gets a new instance", () => {
    const p = plan([ent(1, { types: [2] }), ent(2, { types: [2] }), ent(3, { types: [2] })], {
      instances: [worker(1, { launchTime: at(-MINUTE) })],
    });
    expect(assigns(p)).toEqual([
      [containerUuid(1), instanceId(1)],
      [containerUuid(2), instanceId(1)],
    ]);
    expect(creates(p)).toEqual([["type2", [[containerUuid(3)]]]]);
  });

  test("resources of containers already assigned are subtracted (§3.3 preparation)", () => {
    const p = plan([assigned(1, 1, { vcpus: 2, state: "Running" }), ent(2, { types: [2] })], {
      instances: [worker(1)],
    });
    expect(p.assign).toEqual([]);
    expect(creates(p)).toEqual([["type2", [[containerUuid(2)]]]]);
  });

  test("0-VCPU containers share one VCPU: many fit, and then a 2-VCPU one no longer does", () => {
    const zeros = [1, 2, 3].map((i) => ent(i, { types: [2], vcpus: 0 }));
    const p = plan([...zeros, ent(4, { types: [2], vcpus: 2, priority: 1n })], {
      instances: [worker(1, { launchTime: at(-MINUTE) })],
    });
    expect(p.assign.map((a) => a.uuid)).toEqual([containerUuid(1), containerUuid(2), containerUuid(3)]);
    expect(creates(p)).toEqual([["type2", [[containerUuid(4)]]]]);
  });

  test("an assigned container whose resources are unknown leaves no spare capacity", () => {
    const unknown = assigned(1, 1, { state: "Running" });
    delete unknown.instanceResources;
    const p = plan([unknown, ent(2, { types: [2] })], { instances: [worker(1)] });
    expect(p.assign).toEqual([]);
  });
});

describe("which workers may take a container", () => {
  test("MaxRunningContainersPerInstance caps the containers of one worker", () => {
    const p = plan([assigned(1, 1, { state: "Running" }), ent(2, { types: [2] })], {
      instances: [worker(1)],
      settings: { maxRunningContainersPerInstance: 1 },
    });
    expect(p.assign).toEqual([]);
    expect(creates(p)).toEqual([["type2", [[containerUuid(2)]]]]);
  });

  test.each(["hold", "drain"] as const)("a worker with IdleBehavior %s takes nothing new", (idleBehavior) => {
    const p = plan([ent(1, { types: [2] })], { instances: [worker(1, { idleBehavior, launchTime: at(-MINUTE) })] });
    expect(p.assign).toEqual([]);
  });

  test("an instance of the one-instance-per-container version is never given a container", () => {
    const legacy = instance(1, { instanceType: "type2", launchTime: at(-MINUTE) });
    const p = plan([ent(1, { types: [2] })], { instances: [legacy] });
    expect(p.assign).toEqual([]);
    expect(p.create).toHaveLength(1);
  });

  test("an idle worker about to power off (TimeoutIdle less the margin) is not given a container", () => {
    const p = plan([ent(1, { types: [2] })], {
      instances: [worker(1, { launchTime: at(-10 * MINUTE) })],
      idleSince: { [instanceId(1)]: at(-5 * MINUTE + 10_000) },
    });
    expect(p.assign).toEqual([]);
  });

  test("an instance on its way out is not a worker to use", () => {
    const p = plan([ent(1, { types: [2] })], { instances: [worker(1, { state: "shutting-down" })] });
    expect(p.assign).toEqual([]);
  });
});

describe("new instances: one batched create per type, counted in instances", () => {
  test("containers needing the same type share one create group, in §3.3 order", () => {
    const p = plan([ent(1, { types: [1] }), ent(2, { types: [1] }), ent(3, { types: [2] })]);
    expect(creates(p)).toEqual([
      ["type1", [[containerUuid(1)], [containerUuid(2)]]],
      ["type2", [[containerUuid(3)]]],
    ]);
    expect(p.lock).toHaveLength(3);
    expect(p.newInstances).toBe(3);
  });

  test("a batch holds at most maxBatchSize containers (what the user data has room for); the rest start another call", () => {
    const p = plan(
      [1, 2, 3, 4, 5].map((i) => ent(i, { types: [1] })),
      { settings: { maxBatchSize: 2 } },
    );
    expect(creates(p)).toEqual([
      ["type1", [[containerUuid(1)], [containerUuid(2)]]],
      ["type1", [[containerUuid(3)], [containerUuid(4)]]],
      ["type1", [[containerUuid(5)]]],
    ]);
  });

  test("MaxInstances counts instances, not containers: a full pool still packs onto its workers", () => {
    const p = plan([ent(1, { types: [2] }), ent(2, { types: [2] }), ent(3, { types: [2] })], {
      instances: [worker(1, { launchTime: at(-MINUTE) })],
      cloudVMs: { MaxInstances: 1 },
    });
    expect(p.assign).toHaveLength(2);
    expect(p.create).toEqual([]);
    expect(p.statuses[containerUuid(3)]).toMatch(
      /^Waiting in queue at position 1\. {2}Cluster is at cloud account limits/,
    );
  });

  test("a Locked container whose every type is at capacity waits, with upstream's status", () => {
    const capacity: CapacityState = { atCapacityUntil: { providertype1: NOW + MINUTE } };
    const p = plan([ent(1, { types: [1], state: "Locked" })], { capacity });
    expect(p.create).toEqual([]);
    expect(p.capacityBlocked).toBe(1);
    expect(p.statuses[containerUuid(1)]).toContain("at capacity for all eligible instance types (type1)");
  });

  test("the entries of one open batched intent are repeated together, as one call", () => {
    const intent = { attempt: 1, instanceType: "type1", clientToken: "tok", writtenAt: at(-MINUTE), batch: [] };
    const p = plan([
      ent(1, { state: "Locked", launchIntent: intent }),
      ent(2, { state: "Locked", launchIntent: intent }),
    ]);
    expect(p.repeat).toEqual([{ clientToken: "tok", uuids: [containerUuid(1), containerUuid(2)] }]);
    expect(p.create).toEqual([]);
  });
});

describe("§3.3 8.5: later containers of a pass pack onto the instances it creates", () => {
  const boot = "Waiting for a type2 instance to boot and be ready to accept work.";

  test("two 1-VCPU containers share one new 2-VCPU instance; a third starts another", () => {
    const p = plan([1, 2, 3].map((i) => ent(i, { types: [2] })));
    expect(creates(p)).toEqual([["type2", [[containerUuid(1), containerUuid(2)], [containerUuid(3)]]]]);
    expect(p.newInstances).toBe(2);
    expect(p.lock).toHaveLength(3);
    expect([1, 2, 3].map((i) => p.statuses[containerUuid(i)])).toEqual([boot, boot, boot]);
    expect(p.allocatedNotStarted).toBe(3);
  });

  test("MaxRunningContainersPerInstance 1: one new instance each", () => {
    const p = plan(
      [1, 2].map((i) => ent(i, { types: [2] })),
      { settings: { maxRunningContainersPerInstance: 1 } },
    );
    expect(creates(p)).toEqual([["type2", [[containerUuid(1)], [containerUuid(2)]]]]);
  });

  test("maxBatchSize counts containers: a full batch takes no more, packed or not", () => {
    const p = plan(
      [1, 2, 3].map((i) => ent(i, { types: [2] })),
      { settings: { maxBatchSize: 2 } },
    );
    expect(creates(p)).toEqual([
      ["type2", [[containerUuid(1), containerUuid(2)]]],
      ["type2", [[containerUuid(3)]]],
    ]);
  });

  test("an idle worker with room takes containers before any new instance is planned", () => {
    const p = plan([ent(1, { types: [2], vcpus: 2 }), ent(2, { types: [2] })], {
      instances: [worker(5, { launchTime: at(-MINUTE) })],
    });
    // Container 1 takes the whole idle worker; container 2 then gets a new instance of its own.
    expect(assigns(p)).toEqual([[containerUuid(1), instanceId(5)]]);
    expect(creates(p)).toEqual([["type2", [[containerUuid(2)]]]]);
    const q = plan([ent(1, { types: [2] }), ent(2, { types: [2] }), ent(3, { types: [2] })], {
      instances: [worker(5, { launchTime: at(-MINUTE) })],
    });
    expect(assigns(q).map(([, id]) => id)).toEqual([instanceId(5), instanceId(5)]);
    expect(creates(q)).toEqual([["type2", [[containerUuid(3)]]]]);
  });

  test("MaxInstances counts the packed instance once", () => {
    const p = plan(
      [1, 2, 3].map((i) => ent(i, { types: [2] })),
      { cloudVMs: { MaxInstances: 1 } },
    );
    expect(creates(p)).toEqual([["type2", [[containerUuid(1), containerUuid(2)]]]]);
    expect(p.newInstances).toBe(1);
    expect(p.statuses[containerUuid(3)]).toMatch(/Cluster is at cloud account limits/);
  });

  test("containers packed onto one instance the listing does not show yet count it once toward MaxInstances", () => {
    const packed = [assigned(1, 9), assigned(2, 9)];
    const p = plan([...packed, ent(3, { types: [2], vcpus: 2 })], { cloudVMs: { MaxInstances: 2 } });
    expect(creates(p)).toEqual([["type2", [[containerUuid(3)]]]]);
    const inFlight = { attempt: 1, instanceType: "type2", clientToken: "tok", writtenAt: at(-MINUTE) };
    const batch = [`${containerUuid(1)}:1+${containerUuid(2)}:1`];
    const q = plan(
      [
        ent(1, { state: "Locked", launchIntent: { ...inFlight, batch } }),
        ent(2, { state: "Locked", launchIntent: { ...inFlight, batch } }),
        ent(3, { types: [2], vcpus: 2 }),
      ],
      { cloudVMs: { MaxInstances: 2 } },
    );
    expect(creates(q)).toEqual([["type2", [[containerUuid(3)]]]]);
  });

  test("a container that fits no type of the planned instance does not pack onto it", () => {
    const p = plan([ent(1, { types: [2] }), ent(2, { types: [1] })]);
    expect(creates(p)).toEqual([
      ["type2", [[containerUuid(1)]]],
      ["type1", [[containerUuid(2)]]],
    ]);
  });
});

describe("worker views are derived from the listing and the entries", () => {
  const types = clusterConfig().InstanceTypes;
  test("states: pending → booting; only unstarted user-data containers → booting; Running → running; none → idle", () => {
    const ws = deriveWorkers({
      instances: [worker(1, { state: "pending" }), worker(2), worker(3), worker(4), worker(5, { state: "terminated" })],
      entries: [assigned(1, 2), assigned(2, 3, { state: "Running" }), assigned(3, 3)],
      instanceTypes: types,
    });
    const byId = Object.fromEntries(ws.map((w) => [w.instanceId, w]));
    expect(byId[instanceId(1)]?.state).toBe("booting");
    expect(byId[instanceId(2)]?.state).toBe("booting");
    expect(byId[instanceId(3)]?.state).toBe("running");
    expect(byId[instanceId(3)]?.runningCount).toBe(1);
    expect(byId[instanceId(4)]?.state).toBe("idle");
    expect(byId[instanceId(5)]?.state).toBe("shutdown");
  });

  test("a container given by tag to a worker that was up makes it running, not booting", () => {
    const [w] = deriveWorkers({
      instances: [worker(1)],
      entries: [assigned(1, 1, { by: "tag" })],
      instanceTypes: types,
    });
    expect(w?.state).toBe("running");
  });

  test("final containers no longer count; last busy is the latest assignment or cleanup's idle-since", () => {
    const done = assigned(1, 1, { state: "Complete" });
    const [w] = deriveWorkers({
      instances: [worker(1, { launchTime: at(-10 * MINUTE) })],
      entries: [done],
      instanceTypes: types,
      idleSince: { [instanceId(1)]: at(-MINUTE) },
    });
    expect(w?.containers).toEqual([]);
    expect(w?.state).toBe("idle");
    expect(w?.lastBusyAt).toBe(at(-MINUTE));
    expect(w?.remaining.VCPUs).toBe(2);
  });

  test("sorted as upstream's instanceSort: price ascending, then instance id", () => {
    const ws = deriveWorkers({
      instances: [worker(2), instance(3, { instanceType: "type1", worker: true }), worker(1)],
      entries: [],
      instanceTypes: types,
    });
    expect(ws.map((w) => w.instanceId)).toEqual([instanceId(3), instanceId(1), instanceId(2)]);
  });
});
