import { describe, expect, it } from "vitest";
import { runLaunchPass } from "../../lib/launch/launch-pass.js";
import { Ec2Error } from "../../lib/model/cloud-errors.js";
import type { QueueEntry } from "../../lib/model/entry.js";
import { PortFakes } from "../support/port-fakes.js";
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

// One pool-mode launch pass (issue #18) at a time against recording fakes of its ports, as
// launch-pass.test.ts does for one instance per container.

const c = containerUuid;
const GiB = 2 ** 30;

/** Entry i needing one VCPU and a quarter GiB, eligible for type1 and type2 unless told. */
function ent(i: number, spec: EntrySpec = {}): QueueEntry {
  const e = entry(i, spec);
  e.instanceResources = { VCPUs: 1, RAM: GiB / 4, Scratch: GiB, GPUs: 0, GPUVRAM: 0 };
  return e;
}

function fakes(): PortFakes {
  return new PortFakes(clusterConfig(), () => NOW);
}
const run = (f: PortFakes) => runLaunchPass(f.poolLaunchDeps(), () => 10 * MINUTE);
const actions = (f: PortFakes) => f.log.filter((line) => !line.startsWith("intent") && !line.startsWith("record"));

/** A pass whose RunInstances outcome is unknown, then the next pass, which sees `uuids` Locked with their intents. */
async function passOfUnknownOutcomeThenNext(f: PortFakes, uuids: readonly string[]): Promise<void> {
  f.workerAnswers.push(
    new Ec2Error({ code: "InternalError", message: "x", fault: "server", outcome: "unknown", throttleDelayMs: 0 }),
  );
  await run(f);
  for (const uuid of uuids) {
    const e = f.entries.get(uuid);
    const intent = f.intents.get(uuid);
    if (e !== undefined && intent !== undefined) f.entries.set(uuid, { ...e, launchIntent: intent });
  }
  f.log.length = 0;
  await run(f);
}

describe("new workers start in one batched call per type", () => {
  it("locks three Queued containers, then one RunInstances for all three, mapped by launch index", async () => {
    const f = fakes();
    f.add(ent(3, { types: [1] }), ent(1, { types: [1] }), ent(2, { types: [1] }));
    const report = await run(f);
    expect(actions(f)).toEqual([
      `lock ${c(1)}`,
      `lock ${c(2)}`,
      `lock ${c(3)}`,
      `create type1 ${c(1)},${c(2)},${c(3)}`,
    ]);
    expect(f.workerLaunches).toHaveLength(1);
    expect(report.launched.map((l) => l.uuid)).toEqual([c(1), c(2), c(3)]);
    expect(f.launchRecords.get(c(2))).toMatchObject({ instanceId: instanceId(2), assignedBy: "userData", attempt: 1 });
  });

  it("writes the same intent, naming the whole batch, on every entry before the call", async () => {
    const f = fakes();
    f.add(ent(1, { types: [1] }), ent(2, { types: [1] }));
    f.workerAnswers.push(
      new Ec2Error({ code: "InternalError", message: "x", fault: "server", outcome: "unknown", throttleDelayMs: 0 }),
    );
    await run(f);
    const i1 = f.intents.get(c(1));
    const i2 = f.intents.get(c(2));
    expect(i1?.batch).toEqual([`${c(1)}:1`, `${c(2)}:1`]);
    expect(i2?.clientToken).toBe(i1?.clientToken);
    expect(f.log.indexOf(`intent ${c(2)} type1 subnet-a`)).toBeLessThan(f.log.indexOf(`create type1 ${c(1)},${c(2)}`));
  });

  it("repeats exactly the call of an open batched intent, and records what it started", async () => {
    const f = fakes();
    f.add(ent(1, { types: [1] }), ent(2, { types: [1] }));
    await passOfUnknownOutcomeThenNext(f, [c(1), c(2)]);
    expect(actions(f)).toEqual([`repeat type1 ${c(1)},${c(2)}`]);
    expect(f.workerLaunches[1]?.repeat?.clientToken).toBe(f.workerLaunches[0] && `batch-${c(1)},${c(2)}`);
    expect(f.launchRecords.size).toBe(2);
  });

  it("a partial answer records the instances started and leaves the rest Locked, intents cleared", async () => {
    const f = fakes();
    f.add(ent(1, { types: [1] }), ent(2, { types: [1] }), ent(3, { types: [1] }));
    f.workerAnswers.push(2);
    const report = await run(f);
    expect(report.launched.map((l) => l.uuid)).toEqual([c(1), c(2)]);
    expect(f.launchRecords.has(c(3))).toBe(false);
    expect(f.intents.has(c(3))).toBe(false);
    expect(f.entries.get(c(3))?.container.state).toBe("Locked");
  });
});

describe("containers pack onto the new instances of their pass (§3.3 8.5)", () => {
  it("two 1-VCPU containers go to one new 2-VCPU instance: one launch index, both recorded on it", async () => {
    const f = fakes();
    f.add(ent(1, { types: [2] }), ent(2, { types: [2] }), ent(3, { types: [2] }));
    await run(f);
    expect(actions(f)).toEqual([
      `lock ${c(1)}`,
      `lock ${c(2)}`,
      `lock ${c(3)}`,
      `create type2 ${c(1)}+${c(2)},${c(3)}`,
    ]);
    expect(f.workerLaunches[0]?.batch.map((ms) => ms.length)).toEqual([2, 1]);
    const [r1, r2, r3] = [c(1), c(2), c(3)].map((u) => f.launchRecords.get(u));
    expect(r1?.instanceId).toBe(r2?.instanceId);
    expect(r3?.instanceId).not.toBe(r1?.instanceId);
    expect(r2).toMatchObject({ assignedBy: "userData", instanceType: "type2" });
  });

  it("a packed batch whose outcome is unknown is repeated as the same call, packing and all", async () => {
    const f = fakes();
    f.add(ent(1, { types: [2] }), ent(2, { types: [2] }));
    await passOfUnknownOutcomeThenNext(f, [c(1), c(2)]);
    expect(actions(f)).toEqual([`repeat type2 ${c(1)}+${c(2)}`]);
    expect(f.entries.get(c(2))?.launchIntent?.batch).toEqual([`${c(1)}:1+${c(2)}:1`]);
    expect(f.workerLaunches[1]?.batch).toEqual(f.workerLaunches[0]?.batch);
    expect(f.launchRecords.get(c(1))?.instanceId).toBe(f.launchRecords.get(c(2))?.instanceId);
  });

  it("a container not ours after its lock drops out of its instance; the instance still starts for the others", async () => {
    const f = fakes();
    f.add(ent(1, { types: [2] }), ent(2, { types: [2] }));
    f.notOurs.add(c(1));
    await run(f);
    expect(actions(f).at(-1)).toBe(`create type2 ${c(2)}`);
  });
});

describe("existing workers take containers through the channel", () => {
  it("an idle worker with room gets both containers in one order call, recorded before the order", async () => {
    const f = fakes();
    f.instances = [instance(7, { instanceType: "type2", worker: true, launchTime: at(-10_000) })];
    f.add(ent(1, { types: [2] }), ent(2, { types: [2] }));
    await run(f);
    expect(actions(f)).toEqual([`lock ${c(1)}`, `lock ${c(2)}`, `assign ${instanceId(7)} ${c(1)}:1,${c(2)}:1`]);
    expect(f.log.indexOf(`record ${c(2)} ${instanceId(7)}`)).toBeLessThan(
      f.log.indexOf(`assign ${instanceId(7)} ${c(1)}:1,${c(2)}:1`),
    );
    expect(f.launchRecords.get(c(1))).toMatchObject({
      instanceId: instanceId(7),
      instanceType: "type2",
      assignedBy: "tag",
    });
    expect(f.workerLaunches).toEqual([]);
  });

  it("a container the worker has no room for gets a new instance in the same pass", async () => {
    const f = fakes();
    f.instances = [instance(7, { instanceType: "type1", worker: true, launchTime: at(-10_000) })];
    f.add(ent(1, { types: [1] }), ent(2, { types: [1] }));
    await run(f);
    expect(actions(f)).toEqual([
      `lock ${c(1)}`,
      `assign ${instanceId(7)} ${c(1)}:1`,
      `lock ${c(2)}`,
      `create type1 ${c(2)}`,
    ]);
  });
});
