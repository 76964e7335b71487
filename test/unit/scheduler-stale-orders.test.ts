import { describe, expect, test } from "vitest";
import type { QueueEntry } from "../../lib/model/entry.js";
import type { InstanceView, ListedOrder } from "../../lib/model/instance.js";
import { maxUnassignCallsPerPass, planUnassign } from "../../lib/scheduler/stale-orders.js";
import { at, containerUuid, entry, instance, instanceId, MINUTE } from "./scheduler-fixtures.js";

// Order tags of containers that are final, forgotten or assigned elsewhere are removed by the
// launch pass (issue #18), with the value they hold, one DeleteTags per worker.

const run = (i: number, attempt = 1): ListedOrder => ({ containerUuid: containerUuid(i), action: "run", attempt });
const kill = (i: number, attempt = 1): ListedOrder => ({ containerUuid: containerUuid(i), action: "kill", attempt });
const worker = (w: number, orders: ListedOrder[], room = 40): InstanceView =>
  instance(w, { worker: true, orders, orderTagRoom: room });
const on = (i: number, w: number, state: "Locked" | "Running" | "Complete" | "Cancelled", attempt = 1): QueueEntry =>
  entry(i, {
    state,
    launch: { instanceId: instanceId(w), instanceType: "type1", attempt, launchedAt: at(-MINUTE), assignedBy: "tag" },
  });

describe("which orders are stale", () => {
  test("the run order of the container the worker runs now stays", () => {
    expect(planUnassign([on(1, 1, "Running")], [worker(1, [run(1)])])).toEqual([]);
  });

  test("a final container's orders go (run and kill), in one call", () => {
    const p = planUnassign([on(1, 1, "Complete"), on(2, 1, "Cancelled")], [worker(1, [run(1), kill(2)])]);
    expect(p).toEqual([{ instanceId: instanceId(1), orders: [run(1), kill(2)] }]);
  });

  test("a container gone from the queue (forgotten) → its order goes", () => {
    expect(planUnassign([], [worker(1, [run(3)])])).toEqual([{ instanceId: instanceId(1), orders: [run(3)] }]);
  });

  test("a run order for a container now assigned to another worker goes", () => {
    expect(planUnassign([on(1, 2, "Locked")], [worker(1, [run(1)])])).toEqual([
      { instanceId: instanceId(1), orders: [run(1)] },
    ]);
  });

  test("a run order of an earlier attempt goes; a requeued container's (no launch record) too", () => {
    const requeued = entry(2, { state: "Queued" });
    expect(planUnassign([on(1, 1, "Locked", 2), requeued], [worker(1, [run(1, 1), run(2)])])).toEqual([
      { instanceId: instanceId(1), orders: [run(1, 1), run(2)] },
    ]);
  });

  test("a kill order stays while its container is not final: the agent signals crunch-run until TimeoutTERM", () => {
    const relocked = entry(1, { state: "Locked" });
    expect(planUnassign([relocked, on(2, 2, "Running")], [worker(1, [kill(1), kill(2)])])).toEqual([]);
  });
});

describe("what is touched", () => {
  test("only pool workers, and only live ones", () => {
    const perContainer = instance(2, { container: 5, orders: [run(5)] });
    const gone = { ...worker(3, [run(6)]), state: "stopped" as const };
    expect(planUnassign([], [perContainer, gone])).toEqual([]);
  });

  test(`at most ${maxUnassignCallsPerPass} calls a pass, the workers with the least tag room first`, () => {
    const workers = Array.from({ length: maxUnassignCallsPerPass + 3 }, (_, k) =>
      worker(k + 1, [run(100 + k)], 40 - k),
    );
    const p = planUnassign([], workers);
    expect(p).toHaveLength(maxUnassignCallsPerPass);
    expect(p[0]?.instanceId).toBe(instanceId(maxUnassignCallsPerPass + 3));
    expect(p.map((u) => u.instanceId)).not.toContain(instanceId(1));
  });
});
