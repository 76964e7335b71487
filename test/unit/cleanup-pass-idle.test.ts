import { describe, expect, it } from "vitest";
import { runCleanupPass } from "../../lib/cleanup/cleanup-pass.js";
import type { IdleSinceChanges, IdleSinceRecords, WorkerIdleTable } from "../../lib/model/worker.js";
import { PortFakes } from "../support/port-fakes.js";
import { at, clusterConfig, instance, instanceId, MINUTE, NOW } from "./scheduler-fixtures.js";

// The TimeoutIdle backstop inside one cleanup pass, against recording fakes of its ports;
// test/integration/worker-operations.test.ts runs it against DynamoDB Local and the EC2 simulator.

/** A recording WorkerIdleTable holding `records`. */
function idleTable(records: IdleSinceRecords, fail = false) {
  const writes: IdleSinceChanges[] = [];
  const table: WorkerIdleTable = {
    idleSince: async () => {
      if (fail) throw Object.assign(new Error("unavailable"), { name: "InternalServerError" });
      return records;
    },
    updateIdleSince: async (changes) => {
      writes.push(changes);
      return true;
    },
  };
  return { table, writes };
}

function fakes(): PortFakes {
  const f = new PortFakes(clusterConfig({ TimeoutIdle: MINUTE }), () => NOW);
  f.threshold = new Date(NOW - 1_000);
  return f;
}
const worker = (w: number) => instance(w, { worker: true, launchTime: at(-3 * 60 * MINUTE) });

describe("cleanup ends a pool worker idle past TimeoutIdle plus a sweep, and keeps the records", () => {
  it("terminates it with the reconcile's terminations in one call, counted as TimeoutIdle", async () => {
    const f = fakes();
    f.instances = [worker(1), worker(2)];
    const { table, writes } = idleTable({ [instanceId(1)]: at(-3 * MINUTE) });
    const report = await runCleanupPass({ ...f.cleanupDeps(), workerIdle: table });
    expect(f.log).toEqual([`terminate ${instanceId(1)}`]);
    expect(report.terminated).toEqual({ TimeoutIdle: 1 });
    expect(writes).toEqual([
      {
        set: [{ instanceId: instanceId(2), at: at(0) }],
        remove: [{ instanceId: instanceId(1), value: at(-3 * MINUTE) }],
      },
    ]);
  });

  it("records it cannot read: no worker ended for idleness, the failure reported, the rest of the pass goes on", async () => {
    const f = fakes();
    f.instances = [worker(1)];
    const { table, writes } = idleTable({}, true);
    const report = await runCleanupPass({ ...f.cleanupDeps(), workerIdle: table });
    expect(report.terminated).toEqual({});
    expect(report.failureDetails).toEqual([
      { action: "idle records", target: "#workers", error: "InternalServerError" },
    ]);
    expect(writes).toEqual([]);
  });

  it("nothing changed: no write", async () => {
    const f = fakes();
    f.instances = [worker(1)];
    const { table, writes } = idleTable({ [instanceId(1)]: at(-10_000) });
    await runCleanupPass({ ...f.cleanupDeps(), workerIdle: table });
    expect(writes).toEqual([]);
  });
});
