import { describe, expect, test } from "vitest";
import { maxPriority } from "../../lib/model/container.js";
import type { QueueEntry } from "../../lib/model/entry.js";
import { type CapacityState, emptyCapacityState } from "../../lib/model/dispatch-state.js";
import type { InstanceView } from "../../lib/model/instance.js";
import { type PlanQueueInput, planQueue, type QueuePlan } from "../../lib/scheduler/plan-queue.js";
import {
  at,
  clusterConfig,
  containerUuid,
  entry,
  instance,
  launchIntent,
  launchRecord,
  MINUTE,
  NOW,
} from "./scheduler-fixtures.js";
import { containerPriority, createdAt } from "../support/fixtures.js";

interface Options {
  instances?: InstanceView[];
  capacity?: CapacityState;
  maxContainers?: number;
  cloudVMs?: Parameters<typeof clusterConfig>[0];
}

/** One pass over `entries`; nothing at capacity, no instances and no limit unless given. */
function plan(entries: QueueEntry[], options: Options = {}): QueuePlan {
  const input: PlanQueueInput = {
    entries,
    instances: options.instances ?? [],
    capacity: options.capacity ?? emptyCapacityState(),
    config: clusterConfig(options.cloudVMs),
    now: NOW,
    maxContainers: options.maxContainers ?? 0,
  };
  return planQueue(input);
}

const uuids = (...is: number[]) => is.map(containerUuid);
/** A real priority (request priority 500, §5.6): about 5.6e17, far past 2^53. */
const P = containerPriority(500, createdAt(0));
const locked = (p: QueuePlan) => p.lock.map((d) => d.uuid);
const launched = (p: QueuePlan) => p.launch.map((d) => d.uuid);
const atCapacity = (...providerTypes: string[]): CapacityState => ({
  atCapacityUntil: Object.fromEntries(providerTypes.map((k) => [k, NOW + MINUTE])),
});
const atQuota: CapacityState = { atCapacityUntil: {}, atQuotaUntil: NOW + MINUTE };

describe("a Queued container with types and priority is locked, with the type to launch right after", () => {
  test("lock carries the cheapest type and the others as fallbacks", () => {
    const p = plan([entry(1, { types: [1, 2, 3] })]);
    expect(p.lock).toEqual([
      {
        uuid: containerUuid(1),
        instanceType: expect.objectContaining({ Name: "type1" }),
        fallbackTypes: [expect.objectContaining({ Name: "type2" }), expect.objectContaining({ Name: "type3" })],
      },
    ]);
    expect(p.launch).toEqual([]);
  });
  test("a Locked container without an instance is launched; a Queued one is never launched", () => {
    const p = plan([entry(1, { state: "Locked" }), entry(2)]);
    expect(launched(p)).toEqual(uuids(1));
    expect(locked(p)).toEqual(uuids(2));
  });
});

describe("containers holding an instance are counted first and left alone (§3.3 step 2)", () => {
  test("a Locked container with a live tagged instance is not launched again and is preparing", () => {
    const p = plan([entry(1, { state: "Locked" })], { instances: [instance(1, { container: 1, state: "pending" })] });
    expect(p.launch).toEqual([]);
    expect(p.statuses[containerUuid(1)]).toBe("Container is allocated to an instance and preparing to run.");
  });
  test("the instance named by the launch record holds it even without the container tag", () => {
    const p = plan([entry(1, { state: "Running", launch: launchRecord(1) }), entry(2)], {
      instances: [instance(1)],
      maxContainers: 1,
    });
    expect(p.lock).toEqual([]);
  });
  test("they count against maxContainers", () => {
    const p = plan([entry(1, { state: "Running" }), entry(2)], {
      instances: [instance(1, { container: 1 })],
      maxContainers: 1,
    });
    expect(p.lock).toEqual([]);
  });
  test("a terminated or stopped instance does not hold its container", () => {
    const p = plan([entry(1), entry(2)], {
      instances: [instance(1, { container: 1, state: "terminated" }), instance(2, { container: 2, state: "stopped" })],
    });
    expect(locked(p)).toEqual(uuids(1, 2));
  });
  test("a lock that already launched is not launched again, even before the listing shows the instance", () => {
    const p = plan([entry(1, { state: "Locked", localChangeAt: at(-6 * MINUTE), launch: launchRecord(1) })]);
    expect(p.launch).toEqual([]);
    expect(p.statuses[containerUuid(1)]).toBe("Container is allocated to an instance and preparing to run.");
  });
  test("a launch record older than the latest lock is left over and does not hold the container", () => {
    const p = plan([
      entry(1, { state: "Locked", launch: launchRecord(1, at(-10 * MINUTE)), localChangeAt: at(-MINUTE) }),
    ]);
    expect(launched(p)).toEqual(uuids(1));
  });
});

describe("order: holding first, then Locked, priority desc, first seen asc, uuid asc (§3.3)", () => {
  test("a Locked container goes before a higher-priority Queued one", () => {
    const p = plan([entry(1, { priority: P + 9n }), entry(2, { state: "Locked", priority: P + 1n })], {
      maxContainers: 1,
    });
    expect(launched(p)).toEqual(uuids(2));
    expect(p.lock).toEqual([]);
  });
  test("higher priority first", () => {
    expect(
      locked(plan([entry(1, { priority: P + 1n }), entry(2, { priority: P + 2n })], { maxContainers: 1 })),
    ).toEqual(uuids(2));
  });
  test("int64 priorities past 2^53 that differ by 1 are ordered exactly (§5.6)", () => {
    const high = (1n << 62n) + 1n; // as a double, equal to its neighbour below
    expect(Number(high) === Number(high - 1n)).toBe(true);
    const p = plan(
      [entry(1, { priority: high - 1n }), entry(2, { priority: high }), entry(3, { priority: high - 2n })],
      {
        maxContainers: 3,
      },
    );
    expect(locked(p)).toEqual(uuids(2, 1, 3));
  });
  test("the largest int64 priority is ordered above its neighbour", () => {
    const p = plan([entry(1, { priority: maxPriority - 1n }), entry(2, { priority: maxPriority })], {
      maxContainers: 1,
    });
    expect(locked(p)).toEqual(uuids(2));
  });
  test("a container created later under the same request priority comes after (request × 2^50 − ms)", () => {
    expect(locked(plan([entry(2), entry(1)], { maxContainers: 1 }))).toEqual(uuids(1));
  });
  test("equal priority: first seen first", () => {
    const p = plan(
      [entry(1, { priority: P, firstSeenAt: at(-MINUTE) }), entry(2, { priority: P, firstSeenAt: at(-2 * MINUTE) })],
      {
        maxContainers: 1,
      },
    );
    expect(locked(p)).toEqual(uuids(2));
  });
  test("equal priority and first seen: lower uuid first", () => {
    expect(locked(plan([entry(2, { priority: P }), entry(1, { priority: P })], { maxContainers: 1 }))).toEqual(
      uuids(1),
    );
  });
});

describe("entries whose instance types are not chosen yet are left alone (DESIGN departure)", () => {
  test("no lock, no launch, no status", () => {
    const p = plan([entry(1, { types: [] }), entry(2, { state: "Locked", types: [] })]);
    expect(p.lock).toEqual([]);
    expect(p.launch).toEqual([]);
    expect(p.statuses).toEqual({});
  });
});

describe("priority 0 is never scheduled (§3.3 step 3)", () => {
  test("not locked, and told why", () => {
    const p = plan([entry(1, { priority: 0n })]);
    expect(p.lock).toEqual([]);
    expect(p.statuses[containerUuid(1)]).toBe(
      "This container will not be scheduled to run because its priority is 0 and state is Queued.",
    );
  });
});

describe("supervisors may take only SupervisorFraction of maxContainers (§3.3 step 4)", () => {
  test("the supervisor past the limit waits in the workflow queue", () => {
    const p = plan(
      [1, 2, 3].map((i) => entry(i, { supervisor: true })),
      { maxContainers: 4 },
    );
    expect(locked(p)).toEqual(uuids(1, 2));
    expect(p.statuses[containerUuid(3)]).toBe(
      "Waiting in workflow queue at position 1.  Cluster is at capacity and cannot start any new workflows right now.",
    );
    expect(p.overQuota).toBe(1);
  });
  test("running supervisors count toward the limit", () => {
    const p = plan(
      [
        entry(1, { state: "Running", supervisor: true }),
        entry(2, { supervisor: true }),
        entry(3, { supervisor: true }),
      ],
      {
        instances: [instance(1, { container: 1 })],
        maxContainers: 4,
      },
    );
    expect(locked(p)).toEqual(uuids(2));
  });
  test("other containers are not limited by it", () => {
    const p = plan([entry(1, { supervisor: true }), entry(2, { supervisor: true }), entry(3)], { maxContainers: 2 });
    expect(locked(p)).toEqual(uuids(1, 3));
  });
  test("a Locked supervisor over the limit is unlocked", () => {
    const p = plan([entry(1, { state: "Locked", supervisor: true }), entry(2, { state: "Locked", supervisor: true })], {
      instances: [instance(1, { container: 1 })],
      maxContainers: 2,
    });
    expect(p.unlock).toEqual(uuids(2));
  });
  test("no limit when maxContainers is unlimited", () => {
    expect(locked(plan([1, 2, 3].map((i) => entry(i, { supervisor: true }))))).toEqual(uuids(1, 2, 3));
  });
});

describe("the type is the cheapest eligible one not at capacity (§3.3 step 6)", () => {
  test("a type at capacity is skipped and the next cheapest used, later ones as fallbacks", () => {
    const p = plan([entry(1, { state: "Locked", types: [1, 2, 3] })], { capacity: atCapacity("providertype1") });
    expect(p.launch[0]?.instanceType.Name).toBe("type2");
    expect(p.launch[0]?.fallbackTypes.map((t) => t.Name)).toEqual(["type3"]);
  });
  test("fallbacks leave out types at capacity", () => {
    const p = plan([entry(1, { types: [1, 2, 3] })], { capacity: atCapacity("providertype2") });
    expect(p.lock[0]?.fallbackTypes.map((t) => t.Name)).toEqual(["type3"]);
  });
  test("a Queued container whose types are all at capacity is not locked; later ones with other types are", () => {
    const p = plan([entry(1, { types: [1], priority: P + 2n }), entry(2, { types: [2] })], {
      capacity: atCapacity("providertype1"),
    });
    expect(locked(p)).toEqual(uuids(2));
  });
  test("a Locked container whose types are all at capacity waits with its position and type names", () => {
    const p = plan(
      [entry(1, { state: "Locked", types: [1, 3], priority: P + 2n }), entry(2, { state: "Locked", types: [2] })],
      { capacity: atCapacity("providertype1", "providertype3") },
    );
    expect(launched(p)).toEqual(uuids(2));
    expect(p.statuses[containerUuid(1)]).toBe(
      "Waiting in queue at position 1.  Cluster is at capacity for all eligible instance types (type1, type3) and cannot start a new instance right now.",
    );
  });
});

describe("maxContainers caps containers with or getting an instance (§3.3 7.1, 8.1)", () => {
  test("no more than maxContainers are locked", () => {
    expect(locked(plan([entry(1), entry(2), entry(3)], { maxContainers: 2 }))).toEqual(uuids(1, 2));
  });
  test("0 means unlimited", () => {
    expect(
      plan(
        [1, 2, 3, 4, 5].map((i) => entry(i)),
        { maxContainers: 0 },
      ).lock,
    ).toHaveLength(5);
  });
  test("a container left out waits at the next queue position", () => {
    const p = plan([entry(1), entry(2)], { maxContainers: 1 });
    expect(p.statuses[containerUuid(2)]).toBe(
      "Waiting in queue at position 1.  Cluster is at capacity and cannot start any new instances right now.",
    );
  });
});

describe("at quota, the rest of the queue waits (§3.3 7.2, 8.3)", () => {
  test("no Queued container is locked while at quota, and each is told its position", () => {
    const p = plan([entry(1), entry(2)], { capacity: atQuota });
    expect(p.lock).toEqual([]);
    expect(p.atQuota).toBe(true);
    expect(p.overQuota).toBe(2);
    expect(p.statuses[containerUuid(2)]).toBe(
      "Waiting in queue at position 2.  Cluster is at cloud account limits and cannot start any new instances right now.",
    );
  });
  test("a Locked container at quota stops the pass so lower-priority ones cannot starve it", () => {
    const p = plan([entry(1, { state: "Locked", priority: P + 2n }), entry(2, { state: "Locked" })], {
      capacity: atQuota,
    });
    expect(p.launch).toEqual([]);
  });
  test("MaxInstances counts listed instances plus this pass's launches", () => {
    const p = plan([entry(1, { state: "Locked", priority: P + 2n }), entry(2, { state: "Locked" })], {
      instances: [instance(9, { container: 9 })],
      cloudVMs: { MaxInstances: 2 },
    });
    expect(launched(p)).toEqual(uuids(1));
    expect(p.atQuota).toBe(true);
  });
  test("a lock counts too: the caller launches right after it", () => {
    expect(locked(plan([entry(1), entry(2)], { cloudVMs: { MaxInstances: 1 } }))).toEqual(uuids(1));
  });
  test("terminated instances do not count", () => {
    const p = plan([entry(1)], { instances: [instance(9, { state: "terminated" })], cloudVMs: { MaxInstances: 1 } });
    expect(locked(p)).toEqual(uuids(1));
  });
  test("a launch the listing does not show yet counts", () => {
    const p = plan([entry(1, { state: "Locked", launch: launchRecord(1) }), entry(2)], {
      cloudVMs: { MaxInstances: 1 },
    });
    expect(p.lock).toEqual([]);
  });
});

describe("over-quota Locked containers are unlocked, except the head of the line while instances exist (§3.3)", () => {
  const lockedTrio = [1, 2, 3].map((i) => entry(i, { state: "Locked", priority: P + BigInt(10 - i) }));
  test("with instances up, the head keeps its lock", () => {
    const p = plan([entry(9, { state: "Running" }), ...lockedTrio], {
      instances: [instance(9, { container: 9 })],
      capacity: { atCapacityUntil: {}, atQuotaUntilFewerInstances: 1 },
    });
    expect(p.unlock).toEqual(uuids(2, 3));
  });
  test("with no instance, all are unlocked so the head can exhaust its attempts rather than starve the rest", () => {
    expect(plan(lockedTrio, { capacity: atQuota }).unlock).toEqual(uuids(1, 2, 3));
  });
  test("a lone over-quota container is unlocked even with instances up", () => {
    const p = plan([entry(9, { state: "Running" }), entry(1, { state: "Locked" })], {
      instances: [instance(9, { container: 9 })],
      capacity: atQuota,
    });
    expect(p.unlock).toEqual(uuids(1));
  });
  test("Queued containers over quota have nothing to unlock", () => {
    expect(plan([entry(1), entry(2)], { capacity: atQuota }).unlock).toEqual([]);
  });
});

describe("a call of unknown outcome (an open launch intent) is repeated, never re-planned", () => {
  const open = (spec: Parameters<typeof entry>[1] = {}) =>
    entry(1, {
      state: "Locked",
      types: [1, 2, 3],
      localChangeAt: at(-2 * MINUTE),
      launchIntent: launchIntent("type2"),
      ...spec,
    });

  test("the intent's type is launched again, the entry's other types follow as fallbacks", () => {
    const p = plan([open()]);
    expect(p.launch).toEqual([
      {
        uuid: containerUuid(1),
        instanceType: expect.objectContaining({ Name: "type2" }),
        fallbackTypes: [expect.objectContaining({ Name: "type1" }), expect.objectContaining({ Name: "type3" })],
      },
    ]);
    expect(p.statuses[containerUuid(1)]).toBe("Waiting for a type2 instance to boot and be ready to accept work.");
  });
  test("even when the intent's type is at capacity now; fallbacks leave out types at capacity", () => {
    const p = plan([open()], { capacity: atCapacity("providertype2", "providertype3") });
    expect(p.launch[0]?.instanceType.Name).toBe("type2");
    expect(p.launch[0]?.fallbackTypes.map((t) => t.Name)).toEqual(["type1"]);
  });
  test("not while the listing shows a live instance for the container: that instance holds it (§3.3)", () => {
    const p = plan([open()], { instances: [instance(1, { container: 1, state: "pending" })] });
    expect(p.launch).toEqual([]);
    expect(p.statuses[containerUuid(1)]).toBe("Container is allocated to an instance and preparing to run.");
  });
  test("again once that instance has terminated: the repeat learns what became of the call", () => {
    const p = plan([open()], { instances: [instance(1, { container: 1, state: "terminated" })] });
    expect(launched(p)).toEqual(uuids(1));
  });
  test("it holds its place like an instance: counted first, and against MaxInstances while unlisted", () => {
    const p = plan([entry(2, { priority: P + 9n }), open({ priority: P })], { cloudVMs: { MaxInstances: 1 } });
    expect(launched(p)).toEqual(uuids(1));
    expect(p.lock).toEqual([]);
  });
  test("it is neither repeated nor given back while creates are throttled", () => {
    const p = plan([open()], { capacity: { atCapacityUntil: {}, throttledUntil: NOW + 1 } });
    expect(p.launch).toEqual([]);
    expect(p.unlock).toEqual([]);
  });
  test("an intent written before the latest lock is stale and the lock is planned afresh", () => {
    const p = plan([open({ localChangeAt: at(-10_000), launchIntent: launchIntent("type2", at(-MINUTE)) })]);
    expect(p.launch[0]?.instanceType.Name).toBe("type1");
  });
  test("an intent whose launch is recorded is done with", () => {
    const p = plan([open({ launch: launchRecord(1, at(-30_000)) })]);
    expect(p.launch).toEqual([]);
    expect(p.statuses[containerUuid(1)]).toBe("Container is allocated to an instance and preparing to run.");
  });
});

describe("while creates are throttled, Locked containers are not launched (§3.3 8.5)", () => {
  test("no launch while throttled; Queued containers are still locked", () => {
    const p = plan([entry(1, { state: "Locked" }), entry(2)], {
      capacity: { atCapacityUntil: {}, throttledUntil: NOW + 1 },
    });
    expect(p.launch).toEqual([]);
    expect(locked(p)).toEqual(uuids(2));
  });
});

describe("statuses and metrics after the pass (§3.3)", () => {
  test("a container getting an instance waits for that type to boot", () => {
    const p = plan([entry(1, { state: "Locked" }), entry(2, { types: [2] })]);
    expect(p.statuses[containerUuid(1)]).toBe("Waiting for a type1 instance to boot and be ready to accept work.");
    expect(p.statuses[containerUuid(2)]).toBe("Waiting for a type2 instance to boot and be ready to accept work.");
  });
  test("queue positions continue after the at-capacity positions", () => {
    const p = plan([entry(1, { state: "Locked", types: [1] }), entry(2)], {
      capacity: atCapacity("providertype1"),
      maxContainers: 1,
    });
    expect(p.statuses[containerUuid(2)]).toBe(
      "Waiting in queue at position 2.  Cluster is at capacity and cannot start any new instances right now.",
    );
  });
  test("allocated-not-started counts Locked containers with an instance plus this pass's locks and launches", () => {
    const p = plan(
      [entry(1, { state: "Locked" }), entry(2, { state: "Locked" }), entry(3), entry(4, { state: "Running" })],
      {
        instances: [instance(1, { container: 1, state: "pending" }), instance(4, { container: 4 })],
      },
    );
    expect(p.allocatedNotStarted).toBe(3);
  });
  test("only Queued and Locked containers get a queue position", () => {
    const p = plan([entry(1, { state: "Running" }), entry(2)], { maxContainers: 1, instances: [] });
    expect(Object.keys(p.statuses)).toEqual(uuids(2));
  });
  test("Complete and Cancelled entries without an instance are ignored", () => {
    const p = plan([entry(1, { state: "Complete" }), entry(2, { state: "Cancelled" })]);
    expect(p).toMatchObject({ lock: [], launch: [], unlock: [], statuses: {} });
  });
});
