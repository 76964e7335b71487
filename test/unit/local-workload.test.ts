import { describe, expect, it } from "vitest";
import { loadWorkload, parseWorkload, planWorkload, WorkloadError } from "../../lib/local/workload.js";

describe("local workloads", () => {
  it("the default workload loads, and plans one container per count", () => {
    const workload = loadWorkload();
    const planned = planWorkload(workload);
    expect(planned.length).toBe(workload.containers.reduce((n, c) => n + c.count, 0));
    expect(planned.filter((p) => p.label.startsWith("small-")).length).toBeGreaterThan(1);
  });

  it("takes Arvados units and plans the container fields the simulator stores", () => {
    const [planned] = planWorkload(
      parseWorkload({ runtimeSeconds: 2, containers: [{ name: "a", ram: "3GiB", vcpus: 2, scratch: "10GB", preemptible: true }] }),
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
  });

  it("plans a spot interruption for a preemptible container that asks for one", () => {
    const [planned] = planWorkload(
      parseWorkload({ containers: [{ name: "s", ram: "1GiB", vcpus: 1, preemptible: true, spotInterruptionAfterSeconds: 1.5 }] }),
    );
    expect(planned?.spotInterruptionAfterMs).toBe(1_500);
  });

  it.each([
    [{ containers: [{ name: "s", ram: "1GiB", vcpus: 1, spotInterruptionAfterSeconds: 1 }] }, /spotInterruptionAfterSeconds: .*needs preemptible: true/],
    [{ containers: [{ name: "x", ram: "12 apples", vcpus: 1 }] }, /containers\.0\.ram/],
    [{ containers: [{ name: "x", ram: "1GiB", vcpus: 1, colour: "red" }] }, /colour/],
    [{ containers: [] }, /containers/],
  ])("refuses %j with a message naming the field", (value, message) => {
    expect(() => parseWorkload(value, "w.json")).toThrow(WorkloadError);
    expect(() => parseWorkload(value, "w.json")).toThrow(message);
  });
});
