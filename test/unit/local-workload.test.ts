import { describe, expect, it } from "vitest";
import { ArvadosSimulator } from "../../local/arvados-sim/simulator.js";
import { WorkloadPlayer } from "../../local/runner/workload-player.js";
import { loadWorkload, parseWorkload, planWorkload, WorkloadError } from "../../local/workload.js";

describe("local workloads", () => {
  it("the default workload loads, and plans one container per count", () => {
    const workload = loadWorkload();
    const planned = planWorkload(workload);
    expect(planned.length).toBe(workload.containers.reduce((n, c) => n + c.count, 0));
    expect(planned.filter((p) => p.label.startsWith("small-")).length).toBeGreaterThan(1);
  });

  it("takes Arvados units and plans the container fields the simulator stores", () => {
    const [planned] = planWorkload(
      parseWorkload({
        runtimeSeconds: 2,
        containers: [{ name: "a", ram: "3GiB", vcpus: 2, scratch: "10GB", preemptible: true }],
      }),
    );
    expect(planned).toMatchObject({
      label: "a",
      runtimeMs: 2_000,
      fields: {
        runtime_constraints: { ram: 3 * 2 ** 30, vcpus: 2 },
        scheduling_parameters: { preemptible: true, supervisor: false },
        mounts: { "/tmp": { kind: "tmp", capacity: 10e9 } },
      },
    });
    expect(planned).not.toHaveProperty("spotInterruptionAfterMs");
    expect(planned?.fields).not.toHaveProperty("priority");
  });

  it("takes `priority` as the container request's priority (default 500, the CWL runner's), 0 … 1000", () => {
    const [given, defaulted] = planWorkload(
      parseWorkload({
        containers: [
          { name: "a", priority: 1000, ram: "1GiB", vcpus: 1 },
          { name: "b", ram: "1GiB", vcpus: 1 },
        ],
      }),
    );
    expect(given?.requestPriority).toBe(1000);
    expect(defaulted?.requestPriority).toBe(500);
    expect(given).not.toHaveProperty("requestCreatedAtMs");
    expect(() => parseWorkload({ containers: [{ name: "x", priority: 1001, ram: "1GiB", vcpus: 1 }] })).toThrow(
      /containers\.0\.priority/,
    );
  });

  it("pins requestCreatedAtOffsetMs after the submission time, each further copy 1 ms later", () => {
    const planned = planWorkload(
      parseWorkload({
        containers: [
          { name: "o", count: 3, submitAfterSeconds: 1.1, requestCreatedAtOffsetMs: 5, ram: "1GiB", vcpus: 1 },
        ],
      }),
    );
    expect(planned.map((p) => p.requestCreatedAtMs)).toEqual([1_105, 1_106, 1_107]);
  });

  it("the simulator gives workload containers request priority × 2^50 − request created_at ms", () => {
    const sim = new ArvadosSimulator();
    const startedAt = Date.UTC(2026, 11, 7, 7, 2, 31, 123);
    const player = new WorkloadPlayer(
      sim,
      planWorkload(
        parseWorkload({
          containers: [{ name: "p", priority: 700, requestCreatedAtOffsetMs: 0, ram: "1GiB", vcpus: 1 }],
        }),
      ),
      startedAt,
    );
    player.submitDue(startedAt);
    const [submitted] = player.submitted;
    expect(submitted?.priority).toBe(700n * 2n ** 50n - BigInt(startedAt));
    expect(sim.getContainer(submitted?.uuid ?? "")?.priority).toBe(submitted?.priority);
  });

  it("the default workload holds two containers whose priorities differ by exactly 1, past what a double tells apart", () => {
    const sim = new ArvadosSimulator();
    const startedAt = Date.now();
    const player = new WorkloadPlayer(sim, planWorkload(loadWorkload()), startedAt);
    player.submitDue(startedAt);
    const byLabel = new Map(player.submitted.map((s) => [s.label, s.priority]));
    const first = byLabel.get("exact-order-1");
    const second = byLabel.get("exact-order-2");
    expect(first !== undefined && second !== undefined && first - second).toBe(1n);
    expect(Number(first)).toBe(Number(second));
    // Every workload priority is a realistic int64, far past 2^53.
    for (const priority of byLabel.values()) expect(priority > 2n ** 53n).toBe(true);
  });

  it("submits a line that comes after another once every container of that one is final, plus its delay", () => {
    const sim = new ArvadosSimulator();
    const t0 = Date.UTC(2026, 11, 7);
    const player = new WorkloadPlayer(
      sim,
      planWorkload(
        parseWorkload({
          containers: [
            { name: "wave-1", count: 2, ram: "1GiB", vcpus: 1 },
            { name: "wave-2", count: 2, after: "wave-1", submitAfterSeconds: 1, ram: "1GiB", vcpus: 1 },
          ],
        }),
      ),
      t0,
    );
    player.submitDue(t0);
    const [a, b] = player.submitted.map((s) => s.uuid);
    expect(player.submitted).toHaveLength(2);
    sim.finishContainer(a ?? "", "Cancelled");
    player.submitDue(t0 + 10_000);
    expect(player.submitted).toHaveLength(2);
    sim.finishContainer(b ?? "", "Cancelled");
    player.submitDue(t0 + 20_000);
    expect(player.submitted).toHaveLength(2);
    player.submitDue(t0 + 20_999);
    expect(player.submitted).toHaveLength(2);
    player.submitDue(t0 + 21_000);
    expect(player.submitted.map((s) => s.label)).toEqual(["wave-1-1", "wave-1-2", "wave-2-1", "wave-2-2"]);
    expect(player.done).toBe(true);
  });

  it("refuses after naming no earlier line, and a pinned request time with after", () => {
    expect(() => parseWorkload({ containers: [{ name: "x", after: "y", ram: "1GiB", vcpus: 1 }] })).toThrow(
      /containers.0.after: after "y" names no earlier line/,
    );
    expect(() =>
      parseWorkload({
        containers: [
          { name: "y", ram: "1GiB", vcpus: 1 },
          { name: "x", after: "y", requestCreatedAtOffsetMs: 0, ram: "1GiB", vcpus: 1 },
        ],
      }),
    ).toThrow(/not with after/);
  });

  it("plans a spot interruption for a preemptible container that asks for one", () => {
    const [planned] = planWorkload(
      parseWorkload({
        containers: [{ name: "s", ram: "1GiB", vcpus: 1, preemptible: true, spotInterruptionAfterSeconds: 1.5 }],
      }),
    );
    expect(planned?.spotInterruptionAfterMs).toBe(1_500);
  });

  it.each([
    [
      { containers: [{ name: "s", ram: "1GiB", vcpus: 1, spotInterruptionAfterSeconds: 1 }] },
      /spotInterruptionAfterSeconds: .*needs preemptible: true/,
    ],
    [{ containers: [{ name: "x", ram: "12 apples", vcpus: 1 }] }, /containers\.0\.ram/],
    [{ containers: [{ name: "x", ram: "1GiB", vcpus: 1, colour: "red" }] }, /colour/],
    [{ containers: [] }, /containers/],
  ])("refuses %j with a message naming the field", (value, message) => {
    expect(() => parseWorkload(value, "w.json")).toThrow(WorkloadError);
    expect(() => parseWorkload(value, "w.json")).toThrow(message);
  });
});
