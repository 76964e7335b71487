import { describe, expect, test } from "vitest";
import type { QueueEntry } from "../../lib/model/entry.js";
import { UNLISTED_GRACE_MS, type InstanceView } from "../../lib/model/instance.js";
import { planReconcile, type ReconcilePlan } from "../../lib/scheduler/plan-reconcile.js";
import {
  at,
  clusterConfig,
  containerUuid,
  entry,
  instance,
  instanceId,
  launchIntent,
  launchRecord,
  MINUTE,
  NOW,
} from "./scheduler-fixtures.js";

/** The queue's last successful update started 30 s before NOW. */
const THRESHOLD = NOW - 30_000;

interface Options {
  threshold?: number;
  now?: number;
  timeoutBooting?: number;
}

function reconcile(entries: QueueEntry[], instances: InstanceView[] = [], options: Options = {}): ReconcilePlan {
  return planReconcile({
    entries,
    instances,
    threshold: options.threshold ?? THRESHOLD,
    now: options.now ?? NOW,
    config: clusterConfig(options.timeoutBooting === undefined ? {} : { TimeoutBooting: options.timeoutBooting }),
  });
}

const nothing: ReconcilePlan = {
  forget: [],
  cancel: [],
  unlock: [],
  terminate: [],
  verifyOrphan: [],
  foreign: [],
  held: [],
  kill: [],
};
const terminate = (i: number, reason: string) => ({ instanceId: instanceId(i), reason });
const byUuid = (i: number, reason: string) => ({ uuid: containerUuid(i), reason });

describe("Complete and Cancelled: stop what still runs them, forget them once nothing does (§3.4)", () => {
  test("a finished container's live instance is terminated and the entry kept until it is gone", () => {
    const p = reconcile([entry(1, { state: "Complete" })], [instance(1, { container: 1 })]);
    expect(p).toEqual({ ...nothing, terminate: [terminate(1, "finished")] });
  });
  test("a finished container with no instance is forgotten", () => {
    expect(reconcile([entry(1, { state: "Cancelled" })])).toEqual({ ...nothing, forget: [containerUuid(1)] });
  });
  test("a stopped instance of a finished container is terminated and the entry forgotten", () => {
    const p = reconcile([entry(1, { state: "Complete" })], [instance(1, { container: 1, state: "stopped" })]);
    expect(p).toEqual({ ...nothing, forget: [containerUuid(1)], terminate: [terminate(1, "finished")] });
  });
  test("an instance already shutting down is left to finish", () => {
    const p = reconcile([entry(1, { state: "Complete" })], [instance(1, { container: 1, state: "shutting-down" })]);
    expect(p).toEqual({ ...nothing, forget: [containerUuid(1)] });
  });
});

describe("Queued: on hold is forgotten; an instance running it is terminated (§3.4)", () => {
  test("priority 0 with no instance is forgotten", () => {
    expect(reconcile([entry(1, { priority: 0n })]).forget).toEqual([containerUuid(1)]);
  });
  test("priority > 0 with no instance is kept", () => {
    expect(reconcile([entry(1)])).toEqual(nothing);
  });
  test("an instance started before the queue last saw it Queued is terminated", () => {
    const p = reconcile([entry(1)], [instance(1, { container: 1, launchTime: at(-MINUTE) })]);
    expect(p).toEqual({ ...nothing, terminate: [terminate(1, "queued-with-instance")] });
  });
  test("an instance started after the queue last looked is spared: the cached Queued may be stale", () => {
    const p = reconcile([entry(1)], [instance(1, { container: 1, launchTime: at(-10_000) })]);
    expect(p).toEqual(nothing);
  });
});

describe("Running with no instance is cancelled once the queue saw it Running after the instance ended (§3.4)", () => {
  const running = (launchedAt = at(-20 * MINUTE)) =>
    entry(1, { state: "Running", launch: launchRecord(1, launchedAt) });
  test("instance terminated before the threshold → cancel", () => {
    const p = reconcile([running()], [instance(1, { state: "terminated", terminatedAt: at(-MINUTE) })]);
    expect(p).toEqual({ ...nothing, cancel: [byUuid(1, "not running on any instance")] });
  });
  test("instance terminated after the threshold → not yet: it may have finished normally", () => {
    const p = reconcile([running()], [instance(1, { state: "terminated", terminatedAt: at(-10_000) })]);
    expect(p).toEqual(nothing);
  });
  test("with no termination time, the instance's launch time stands in", () => {
    const inst = instance(1, { state: "terminated", launchTime: at(-10_000) });
    expect(reconcile([running()], [inst])).toEqual(nothing);
    expect(reconcile([running()], [inst], { threshold: NOW - 5_000 }).cancel).toEqual([
      byUuid(1, "not running on any instance"),
    ]);
  });
  test("an instance missing from the listing counts as ended a grace period after its launch", () => {
    expect(reconcile([running(at(-20 * MINUTE))]).cancel).toHaveLength(1);
    expect(reconcile([running(new Date(THRESHOLD - UNLISTED_GRACE_MS + 1).toISOString())]).cancel).toEqual([]);
  });
  test("an instance still shutting down → not yet", () => {
    expect(reconcile([running()], [instance(1, { state: "shutting-down" })])).toEqual(nothing);
  });
  test("a call of unknown outcome (an open launch intent) may have started an instance not listed yet: not before its grace", () => {
    const lostReply = (writtenAt: string) =>
      entry(1, { state: "Running", firstSeenAt: at(-20 * MINUTE), launchIntent: launchIntent("type1", writtenAt) });
    expect(reconcile([lostReply(new Date(THRESHOLD - UNLISTED_GRACE_MS + 1).toISOString())]).cancel).toEqual([]);
    expect(reconcile([lostReply(at(-20 * MINUTE))]).cancel).toEqual([byUuid(1, "not running on any instance")]);
  });
  test("no instance ever known → cancel once the queue has seen it since we first did", () => {
    const seen = (firstSeenAt: string) => entry(1, { state: "Running", firstSeenAt });
    expect(reconcile([seen(at(-MINUTE))]).cancel).toEqual([byUuid(1, "not running on any instance")]);
    expect(reconcile([seen(at(-10_000))]).cancel).toEqual([]);
  });
  test("a Running container on a live instance is left alone", () => {
    expect(reconcile([running()], [instance(1, { container: 1 })])).toEqual(nothing);
  });
  test("priority 0 with a live instance → terminate it", () => {
    const p = reconcile([entry(1, { state: "Running", priority: 0n })], [instance(1, { container: 1 })]);
    expect(p).toEqual({ ...nothing, terminate: [terminate(1, "priority=0")] });
  });
});

describe("Locked: requeue when its instance is gone, never booted, or priority is 0 (§3.4, §3.5)", () => {
  const lockedAt = at(-30 * MINUTE);
  const locked = (spec: Parameters<typeof entry>[1] = {}) =>
    entry(1, { state: "Locked", localChangeAt: lockedAt, launch: launchRecord(1, at(-20 * MINUTE)), ...spec });

  test("priority 0 with a live instance → terminate first, unlock later", () => {
    const p = reconcile([locked({ priority: 0n })], [instance(1, { container: 1 })]);
    expect(p).toEqual({ ...nothing, terminate: [terminate(1, "priority=0")] });
  });
  test("priority 0 without an instance → unlock", () => {
    const p = reconcile([locked({ priority: 0n, launch: undefined })]);
    expect(p).toEqual({ ...nothing, unlock: [byUuid(1, "priority=0")] });
  });
  test("launched instance terminated before the threshold → unlock", () => {
    const p = reconcile([locked()], [instance(1, { container: 1, state: "terminated", terminatedAt: at(-MINUTE) })]);
    expect(p).toEqual({ ...nothing, unlock: [byUuid(1, "instance gone")] });
  });
  test("launched instance terminated after the threshold → not yet", () => {
    const p = reconcile([locked()], [instance(1, { container: 1, state: "terminated", terminatedAt: at(-10_000) })]);
    expect(p).toEqual(nothing);
  });
  test("launched instance missing from the listing past the grace period → unlock", () => {
    expect(reconcile([locked()]).unlock).toEqual([byUuid(1, "instance gone")]);
  });
  test("launched instance missing from the listing right after launch → not yet (listing lag)", () => {
    expect(reconcile([locked({ launch: launchRecord(1, at(-40_000)) })])).toEqual(nothing);
  });
  test("not launched yet → left for planQueue", () => {
    expect(reconcile([locked({ launch: undefined })])).toEqual(nothing);
  });
  test("a launch whose outcome stayed unknown past TimeoutBooting → unlock: the next lock gets another ClientToken", () => {
    const unknown = (writtenAt: string) =>
      locked({ launch: undefined, launchIntent: launchIntent("type1", writtenAt) });
    expect(reconcile([unknown(at(-11 * MINUTE))])).toEqual({ ...nothing, unlock: [byUuid(1, "TimeoutBooting")] });
    expect(reconcile([unknown(at(-9 * MINUTE))])).toEqual(nothing);
    expect(reconcile([unknown(new Date(THRESHOLD - 10 * MINUTE + 1).toISOString())])).toEqual(nothing);
  });
  test("a launch record older than the lock is left over and does not count", () => {
    const p = reconcile([locked({ localChangeAt: at(-MINUTE) })]);
    expect(p).toEqual(nothing);
  });
  test("instance pending longer than TimeoutBooting → terminate and unlock", () => {
    const p = reconcile([locked()], [instance(1, { container: 1, state: "pending", launchTime: at(-11 * MINUTE) })]);
    expect(p).toEqual({
      ...nothing,
      unlock: [byUuid(1, "TimeoutBooting")],
      terminate: [terminate(1, "TimeoutBooting")],
    });
  });
  test("instance running past TimeoutBooting with the container Locked → still loading its image: left alone (§4.1)", () => {
    expect(reconcile([locked()], [instance(1, { container: 1, launchTime: at(-11 * MINUTE) })])).toEqual(nothing);
    expect(reconcile([locked()], [instance(1, { container: 1, launchTime: at(-69 * MINUTE) })])).toEqual(nothing);
  });
  test("instance running past TimeoutBooting + the image-load allowance with the container still Locked → never booted", () => {
    const p = reconcile([locked()], [instance(1, { container: 1, launchTime: at(-71 * MINUTE) })]);
    expect(p.unlock).toEqual([byUuid(1, "TimeoutBooting")]);
    expect(p.terminate).toEqual([terminate(1, "TimeoutBooting")]);
  });
  test("instance within TimeoutBooting → left alone", () => {
    expect(reconcile([locked()], [instance(1, { container: 1, launchTime: at(-9 * MINUTE) })])).toEqual(nothing);
  });
  test("past TimeoutBooting now, but not when the queue last looked → not yet: it may be Running already", () => {
    const inst = instance(1, { container: 1, launchTime: at(-10 * MINUTE - 10_000) });
    expect(reconcile([locked()], [inst])).toEqual(nothing);
  });
  test("TimeoutBooting 0 means the 10-minute default", () => {
    const inst = instance(1, { container: 1, state: "pending", launchTime: at(-5 * MINUTE) });
    expect(reconcile([locked()], [inst], { timeoutBooting: 0 })).toEqual(nothing);
    expect(reconcile([locked()], [inst], { timeoutBooting: MINUTE }).unlock).toHaveLength(1);
  });
});

describe("instances nobody accounts for (§3.4 'not in queue')", () => {
  test("an instance with no container tag was not launched here: reported, never terminated (upgrade from upstream)", () => {
    expect(reconcile([], [instance(1)])).toEqual({ ...nothing, foreign: [instanceId(1)] });
    expect(reconcile([entry(1, { state: "Running" })], [instance(1), instance(2)])).toMatchObject({
      terminate: [],
      foreign: [instanceId(1), instanceId(2)],
    });
  });
  test("an untagged instance named by a launch record belongs to that container", () => {
    expect(reconcile([entry(1, { state: "Running", launch: launchRecord(1) })], [instance(1)])).toEqual(nothing);
  });
  test("an untagged instance named only by a left-over launch record is reported, not terminated", () => {
    const requeued = entry(1, { state: "Queued", launch: launchRecord(1, at(-20 * MINUTE)) });
    expect(reconcile([requeued], [instance(1)])).toEqual({ ...nothing, foreign: [instanceId(1)] });
  });
  test("an instance tagged for a container not in the queue is verified with Arvados", () => {
    expect(reconcile([], [instance(1, { container: 7 })])).toEqual({
      ...nothing,
      verifyOrphan: [{ instanceId: instanceId(1), containerUuid: containerUuid(7), reason: "not in queue" }],
    });
  });
  test("terminated and shutting-down instances are not questioned", () => {
    const gone = [instance(1, { state: "terminated" }), instance(2, { container: 7, state: "shutting-down" })];
    expect(reconcile([], gone)).toEqual(nothing);
  });
  test("a second instance for a container whose launch record names another is terminated", () => {
    const e = entry(1, { state: "Running", launch: launchRecord(1) });
    const p = reconcile([e], [instance(1, { container: 1 }), instance(2, { container: 1 })]);
    expect(p).toEqual({ ...nothing, terminate: [terminate(2, "duplicate")] });
  });
  test("a stopped instance can never run its container again and is terminated", () => {
    const e = entry(1, { state: "Running", launch: launchRecord(1) });
    expect(reconcile([e], [instance(1, { container: 1, state: "stopped" })])).toEqual({
      ...nothing,
      terminate: [terminate(1, "stopped")],
    });
  });
  test("each instance gets one decision: the container's rule wins over the instance's", () => {
    const e = entry(1, { state: "Complete", launch: launchRecord(1) });
    const p = reconcile([e], [instance(1, { container: 1 }), instance(2, { container: 1 })]);
    expect(p.terminate).toEqual([terminate(1, "finished"), terminate(2, "finished")]);
  });
});

describe("an instance on hold is never terminated automatically, and keeps its container's lock (upstream IdleBehavior hold)", () => {
  const held = (i: number, spec: Parameters<typeof instance>[1] = {}) => instance(i, { idleBehavior: "hold", ...spec });
  const heldFor = (i: number, reason: string) => ({ instanceId: instanceId(i), reason });

  test("after its container finished: reported as held, not terminated; the entry stays until it is gone", () => {
    const p = reconcile([entry(1, { state: "Complete" })], [held(1, { container: 1 })]);
    expect(p).toEqual({ ...nothing, held: [heldFor(1, "finished")] });
  });
  test("past TimeoutBooting: neither terminated nor its container requeued, since it may still start it", () => {
    const locked = entry(1, {
      state: "Locked",
      localChangeAt: at(-30 * MINUTE),
      launch: launchRecord(1, at(-20 * MINUTE)),
    });
    const p = reconcile([locked], [held(1, { container: 1, state: "pending", launchTime: at(-11 * MINUTE) })]);
    expect(p).toEqual({ ...nothing, held: [] });
  });
  test("with its container at priority 0, a duplicate, stopped, or tagged for a container not in the queue: left alone", () => {
    const lockedZero = entry(1, {
      state: "Locked",
      priority: 0n,
      localChangeAt: at(-30 * MINUTE),
      launch: launchRecord(1, at(-20 * MINUTE)),
    });
    expect(reconcile([lockedZero], [held(1, { container: 1 })])).toEqual({
      ...nothing,
      held: [heldFor(1, "priority=0")],
    });
    const running = entry(2, { state: "Running", launch: launchRecord(2) });
    expect(reconcile([running], [instance(2, { container: 2 }), held(3, { container: 2 })])).toEqual({
      ...nothing,
      held: [heldFor(3, "duplicate")],
    });
    expect(reconcile([running], [held(2, { container: 2, state: "stopped" })])).toEqual({
      ...nothing,
      held: [heldFor(2, "stopped")],
    });
    expect(reconcile([], [held(4, { container: 7 })])).toEqual({ ...nothing, held: [heldFor(4, "not in queue")] });
  });
  test("an unrecognised or run tag changes nothing", () => {
    const p = reconcile([entry(1, { state: "Complete" })], [instance(1, { container: 1, idleBehavior: "run" })]);
    expect(p.terminate).toEqual([terminate(1, "finished")]);
  });
});

describe("a drained instance is terminated as soon as it is idle (upstream IdleBehavior drain)", () => {
  const lockedAt = at(-3 * MINUTE);
  const locked = () => entry(1, { state: "Locked", localChangeAt: lockedAt, launch: launchRecord(1, at(-2 * MINUTE)) });
  const drained = (spec: Parameters<typeof instance>[1] = {}) =>
    instance(1, { container: 1, idleBehavior: "drain", ...spec });

  test("still booting: terminated now and its container requeued for another instance", () => {
    const p = reconcile([locked()], [drained({ state: "pending", launchTime: at(-2 * MINUTE) })]);
    expect(p).toEqual({ ...nothing, unlock: [byUuid(1, "drain")], terminate: [terminate(1, "drain")] });
  });
  test("booted, with its container starting or running: left to finish it and power off, as every instance does", () => {
    expect(reconcile([locked()], [drained({ launchTime: at(-2 * MINUTE) })])).toEqual(nothing);
    const running = entry(1, { state: "Running", launch: launchRecord(1) });
    expect(reconcile([running], [drained()])).toEqual(nothing);
  });
  test("booting for a container the queue no longer holds: terminated without asking Arvados", () => {
    expect(reconcile([], [drained({ state: "pending" })])).toEqual({ ...nothing, terminate: [terminate(1, "drain")] });
  });
  test("an instance this dispatcher did not launch is left alone, drained or not", () => {
    expect(reconcile([], [instance(1, { idleBehavior: "drain", state: "pending" })])).toEqual({
      ...nothing,
      foreign: [instanceId(1)],
    });
  });
});
