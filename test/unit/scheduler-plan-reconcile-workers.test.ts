import { describe, expect, test } from "vitest";
import type { QueueEntry } from "../../lib/model/entry.js";
import type { InstanceView } from "../../lib/model/instance.js";
import { planReconcile, type ReconcilePlan } from "../../lib/scheduler/plan-reconcile.js";
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

// Reconcile with pool workers (issue #18): one container is stopped through the channel, never
// by terminating the worker its neighbours run on.

const THRESHOLD = NOW - 30_000;
const reconcile = (entries: QueueEntry[], instances: InstanceView[]): ReconcilePlan =>
  planReconcile({ entries, instances, threshold: THRESHOLD, now: NOW, config: clusterConfig() });

/** Entry i on pool worker w, assigned `assignedAgo` ms ago (by tag unless told). */
const on = (i: number, w: number, spec: EntrySpec = {}, assignedAgo = 2 * MINUTE): QueueEntry =>
  entry(i, {
    state: "Running",
    ...spec,
    launch: {
      instanceId: instanceId(w),
      instanceType: "type1",
      attempt: 3,
      launchedAt: at(-assignedAgo),
      assignedBy: "tag",
    },
  });
const worker = (w: number, overrides: Partial<InstanceView> = {}) =>
  instance(w, { worker: true, launchTime: at(-3 * 60 * MINUTE), ...overrides });

describe("a pool worker is never terminated for one of its containers", () => {
  test("a finished container leaves its worker alone (the agent powers an idle worker off)", () => {
    const p = reconcile([on(1, 1, { state: "Complete" }), on(2, 1)], [worker(1)]);
    expect(p.terminate).toEqual([]);
    expect(p.kill).toEqual([]);
    expect(p.forget).toEqual([containerUuid(1)]);
  });

  test("a Running container with priority 0 gets a kill order for its attempt; the worker runs on", () => {
    const p = reconcile([on(1, 1, { priority: 0n }), on(2, 1)], [worker(1)]);
    expect(p.terminate).toEqual([]);
    expect(p.kill).toEqual([
      { instanceId: instanceId(1), containerUuid: containerUuid(1), attempt: 3, reason: "priority=0" },
    ]);
  });

  test("a Locked container with priority 0 on a worker is killed there and requeued", () => {
    const p = reconcile([on(1, 1, { state: "Locked", priority: 0n })], [worker(1)]);
    expect(p.kill.map((k) => k.containerUuid)).toEqual([containerUuid(1)]);
    expect(p.unlock.map((u) => u.uuid)).toEqual([containerUuid(1)]);
    expect(p.terminate).toEqual([]);
  });

  test("TimeoutBooting counts from the assignment, not from the worker's launch hours ago", () => {
    const p = reconcile([on(1, 1, { state: "Locked" })], [worker(1)]);
    expect(p.unlock).toEqual([]);
    expect(p.kill).toEqual([]);
  });

  test("a worker still pending past TimeoutBooting runs nothing: it is terminated and its container requeued", () => {
    const p = reconcile(
      [on(1, 1, { state: "Locked" }, 20 * MINUTE)],
      [worker(1, { state: "pending", launchTime: at(-20 * MINUTE) })],
    );
    expect(p.terminate.map((t) => t.instanceId)).toEqual([instanceId(1)]);
    expect(p.unlock.map((u) => u.uuid)).toEqual([containerUuid(1)]);
  });

  test("a Running container no worker runs is cancelled", () => {
    const p = reconcile([on(1, 1)], [worker(1, { state: "terminated", terminatedAt: at(-5 * MINUTE) })]);
    expect(p.cancel.map((c) => c.uuid)).toEqual([containerUuid(1)]);
  });

  test("an idle worker of ours with no cached container is left to the TimeoutIdle backstop: not terminated, not foreign", () => {
    const p = reconcile([], [worker(1)]);
    expect(p.terminate).toEqual([]);
    expect(p.foreign).toEqual([]);
  });

  test("an instance of our instance set without the Worker or ContainerUUID tag is still foreign", () => {
    const p = reconcile([], [{ ...worker(1), worker: false }]);
    expect(p.foreign).toEqual([instanceId(1)]);
  });
});
