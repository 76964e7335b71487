import { describe, expect, test } from "vitest";
import type { QueueEntry } from "../../lib/model/entry.js";
import type { InstanceView } from "../../lib/model/instance.js";
import type { IdleSinceRecords } from "../../lib/model/worker.js";
import { cleanupSweepMs, planWorkerIdle } from "../../lib/scheduler/worker-idle.js";
import { deriveWorkers } from "../../lib/scheduler/workers.js";
import { at, clusterConfig, entry, instance, instanceId, MINUTE, NOW } from "./scheduler-fixtures.js";

// The dispatcher's TimeoutIdle backstop (issue #18): cleanup records when it first saw each pool
// worker idle and ends one idle longer than TimeoutIdle plus a sweep.

const TIMEOUT_IDLE = MINUTE;
const LIMIT = TIMEOUT_IDLE + cleanupSweepMs;

const worker = (w: number, overrides: Partial<InstanceView> = {}) =>
  instance(w, { worker: true, launchTime: at(-3 * 60 * MINUTE), ...overrides });

/** Entry i assigned by tag to worker w `ago` ms ago. */
const on = (i: number, w: number, state: "Locked" | "Running" | "Complete", ago = 2 * MINUTE): QueueEntry =>
  entry(i, {
    state,
    launch: { instanceId: instanceId(w), instanceType: "type1", attempt: 1, launchedAt: at(-ago), assignedBy: "tag" },
  });

function plan(instances: InstanceView[], records: IdleSinceRecords, entries: QueueEntry[] = []) {
  const workers = deriveWorkers({ instances, entries, instanceTypes: clusterConfig().InstanceTypes });
  return planWorkerIdle({ workers, records, now: NOW, timeoutIdleMs: TIMEOUT_IDLE });
}

describe("cleanup records when it first sees a pool worker idle", () => {
  test("an idle worker without a record gets one, at now; nothing is terminated yet", () => {
    const p = plan([worker(1)], {});
    expect(p.changes).toEqual({ set: [{ instanceId: instanceId(1), at: at(0) }], remove: [] });
    expect(p.terminate).toEqual([]);
  });

  test("an idle worker whose record is older than its last assignment was busy since: its record starts over", () => {
    const p = plan([worker(1)], { [instanceId(1)]: at(-10 * MINUTE) }, [on(1, 1, "Complete", 4 * MINUTE)]);
    expect(p.changes.set).toEqual([{ instanceId: instanceId(1), at: at(0), replaces: at(-10 * MINUTE) }]);
    expect(p.terminate).toEqual([]);
  });

  test("a busy worker's record is removed, with the value read", () => {
    const p = plan([worker(1)], { [instanceId(1)]: at(-MINUTE) }, [on(1, 1, "Running")]);
    expect(p.changes).toEqual({ set: [], remove: [{ instanceId: instanceId(1), value: at(-MINUTE) }] });
  });

  test("a gone worker's record is removed", () => {
    const p = plan([], { [instanceId(7)]: at(-MINUTE) });
    expect(p.changes.remove).toEqual([{ instanceId: instanceId(7), value: at(-MINUTE) }]);
  });

  test("a worker still pending has no record (booting is not idle)", () => {
    const p = plan([worker(1, { state: "pending" })], { [instanceId(1)]: at(-MINUTE) });
    expect(p.changes).toEqual({ set: [], remove: [{ instanceId: instanceId(1), value: at(-MINUTE) }] });
  });
});

describe("a pool worker idle longer than TimeoutIdle plus one sweep is terminated", () => {
  test("past the limit → terminate (TimeoutIdle), and its record goes with it", () => {
    const p = plan([worker(1)], { [instanceId(1)]: at(-LIMIT - 1) });
    expect(p.terminate).toEqual([{ instanceId: instanceId(1), reason: "TimeoutIdle" }]);
    expect(p.changes).toEqual({ set: [], remove: [{ instanceId: instanceId(1), value: at(-LIMIT - 1) }] });
  });

  test("at the limit, not past it → left to its agent", () => {
    expect(plan([worker(1)], { [instanceId(1)]: at(-LIMIT) }).terminate).toEqual([]);
  });

  test("the limit follows TimeoutIdle", () => {
    const workers = deriveWorkers({
      instances: [worker(1)],
      entries: [],
      instanceTypes: clusterConfig().InstanceTypes,
    });
    const records = { [instanceId(1)]: at(-LIMIT - 1) };
    expect(planWorkerIdle({ workers, records, now: NOW, timeoutIdleMs: 10 * MINUTE }).terminate).toEqual([]);
  });

  test("a worker on hold is reported held, never terminated", () => {
    const p = plan([worker(1, { idleBehavior: "hold" })], { [instanceId(1)]: at(-LIMIT - 1) });
    expect(p.terminate).toEqual([]);
    expect(p.held).toEqual([{ instanceId: instanceId(1), reason: "TimeoutIdle" }]);
  });

  test("a draining worker past the limit is terminated too (its agent should have powered off at once)", () => {
    const p = plan([worker(1, { idleBehavior: "drain" })], { [instanceId(1)]: at(-LIMIT - 1) });
    expect(p.terminate).toEqual([{ instanceId: instanceId(1), reason: "TimeoutIdle" }]);
  });

  test("a worker with a container assigned is never terminated by this rule, however old its record", () => {
    const p = plan([worker(1)], { [instanceId(1)]: at(-10 * LIMIT) }, [on(1, 1, "Locked")]);
    expect(p.terminate).toEqual([]);
  });
});

describe("only pool workers: never a per-container instance, never one we did not launch", () => {
  test("a per-container instance (ContainerUUID tag) idle for hours: no record, no termination", () => {
    const p = plan([instance(1, { container: 9, launchTime: at(-3 * 60 * MINUTE) })], {});
    expect(p).toEqual({ changes: { set: [], remove: [] }, terminate: [], held: [] });
  });

  test("an instance of our instance set without the Worker tag (another dispatcher's): left alone, even with a record", () => {
    const p = plan([instance(1, { launchTime: at(-3 * 60 * MINUTE) })], { [instanceId(1)]: at(-10 * LIMIT) });
    expect(p.terminate).toEqual([]);
    expect(p.changes.remove).toEqual([{ instanceId: instanceId(1), value: at(-10 * LIMIT) }]);
  });
});

describe("launch reads the same records: a worker cleanup saw idle is kept from new containers near TimeoutIdle", () => {
  test("deriveWorkers takes the record as idleSince, and lastBusyAt from it", () => {
    const [w] = deriveWorkers({
      instances: [worker(1)],
      entries: [],
      instanceTypes: clusterConfig().InstanceTypes,
      idleSince: { [instanceId(1)]: at(-50_000) },
    });
    expect(w).toMatchObject({ idleSince: at(-50_000), lastBusyAt: at(-50_000) });
  });
});
