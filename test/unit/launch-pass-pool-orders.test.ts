import { describe, expect, it } from "vitest";
import { runLaunchPass } from "../../lib/launch/launch-pass.js";
import type { QueueEntry } from "../../lib/model/entry.js";
import { PortFakes } from "../support/port-fakes.js";
import { at, clusterConfig, containerUuid, entry, instance, instanceId, MINUTE, NOW } from "./scheduler-fixtures.js";

// A pool-mode launch pass removes stale order tags before it plans (issue #18), so the tag room
// they free counts for its assignments; and it reads cleanup's idle-since records.

const c = containerUuid;
const GiB = 2 ** 30;

function ent(i: number): QueueEntry {
  const e = entry(i, { types: [2] });
  e.instanceResources = { VCPUs: 1, RAM: GiB / 4, Scratch: GiB, GPUs: 0, GPUVRAM: 0 };
  return e;
}

const actions = (f: PortFakes) => f.log.filter((line) => !line.startsWith("intent") && !line.startsWith("record"));

describe("stale orders go before the plan", () => {
  it("a worker whose tags are full of a forgotten container's order: the order is removed, then the worker takes the new container", async () => {
    const f = new PortFakes(clusterConfig(), () => NOW);
    f.instances = [
      instance(7, {
        instanceType: "type2",
        worker: true,
        launchTime: at(-10_000),
        orders: [{ containerUuid: c(9), action: "run", attempt: 1 }],
        orderTagRoom: 0,
      }),
    ];
    f.add(ent(1));
    const report = await runLaunchPass(f.poolLaunchDeps(), () => 10 * MINUTE);
    expect(actions(f)).toEqual([
      `unassign ${instanceId(7)} ${c(9)}=run:1`,
      `lock ${c(1)}`,
      `assign ${instanceId(7)} ${c(1)}:1`,
    ]);
    expect(report.ordersRemoved).toBe(1);
  });

  it("a removal that fails leaves the room as it was: the container goes to a new instance, and the pass goes on", async () => {
    const f = new PortFakes(clusterConfig(), () => NOW);
    f.instances = [
      instance(7, {
        instanceType: "type2",
        worker: true,
        launchTime: at(-10_000),
        orders: [{ containerUuid: c(9), action: "run", attempt: 1 }],
        orderTagRoom: 0,
      }),
    ];
    f.add(ent(1));
    const deps = f.poolLaunchDeps();
    const pool = deps.pool;
    if (pool === undefined) throw new Error("pool deps expected");
    pool.cloud = {
      ...pool.cloud,
      unassign: async () => {
        throw Object.assign(new Error("throttled"), { name: "RequestLimitExceeded" });
      },
    };
    const report = await runLaunchPass(deps, () => 10 * MINUTE);
    expect(report.unassignErrors).toHaveLength(1);
    expect(actions(f)).toEqual([`lock ${c(1)}`, `create type2 ${c(1)}`]);
  });
});

describe("the pass reads cleanup's idle-since records", () => {
  it("an idle worker cleanup saw idle longer than TimeoutIdle less the margin is given nothing", async () => {
    const f = new PortFakes(clusterConfig(), () => NOW);
    f.instances = [instance(7, { instanceType: "type2", worker: true, launchTime: at(-10 * MINUTE) })];
    f.add(ent(1));
    const deps = f.poolLaunchDeps();
    if (deps.pool === undefined) throw new Error("pool deps expected");
    deps.pool.idle = { idleSince: async () => ({ [instanceId(7)]: at(-45_000) }) };
    await runLaunchPass(deps, () => 10 * MINUTE);
    expect(actions(f)).toEqual([`lock ${c(1)}`, `create type2 ${c(1)}`]);
  });
});
