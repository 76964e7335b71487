import { describe, expect, it } from "vitest";
import type { GPURuntimeConstraints, RuntimeConstraints } from "../../lib/model/container.js";
import type { GPUFeatures, InstanceType } from "../../lib/model/instance-type.js";
import {
  chooseInstanceTypes,
  NoSuitableInstanceTypeError,
  type TypeChoice,
  type TypeChoiceConfig,
} from "../../lib/instance-types/choose.js";
import { type ContainerForTypeChoice, instanceResourcesNeeded } from "../../lib/instance-types/resources.js";
import { instanceType, queuedContainer } from "../support/fixtures.js";

const GiB = 2 ** 30;
const noGPU: GPUFeatures = { Stack: "", DriverVersion: "", HardwareTarget: "", DeviceCount: 0, VRAM: 0 };

/** A cluster with these types and no RAM extras, so a container's RAM need is ram × 100/95. */
function cluster(types: InstanceType[], MaximumPriceFactor = 1.5): TypeChoiceConfig {
  return {
    Containers: { ReserveExtraRAM: 0, LocalKeepBlobBuffersPerVCPU: 0, MaximumPriceFactor },
    InstanceTypes: Object.fromEntries(types.map((t) => [t.Name, t])),
  };
}

/** A container needing these constraints (1 VCPU, 1GiB by default), optionally preemptible. */
function container(rc: Partial<RuntimeConstraints> = {}, preemptible = false): ContainerForTypeChoice {
  const base = queuedContainer(1);
  return {
    ...base,
    runtime_constraints: { ...base.runtime_constraints, ...rc },
    scheduling_parameters: { ...base.scheduling_parameters, preemptible },
  };
}

function gpu(g: Partial<GPURuntimeConstraints>): Partial<RuntimeConstraints> {
  return { gpu: { stack: "cuda", driver_version: "11.0", hardware_target: ["8.0"], device_count: 1, vram: 0, ...g } };
}

function chosen(result: TypeChoice): string[] {
  if (!result.ok) throw new Error(`no types: ${result.error.message}`);
  return result.types.map((t) => t.Name);
}

function rejection(result: TypeChoice, name: string): string | undefined {
  return result.decision.rejected.find((r) => r.name === name)?.reason;
}

describe("no instance types configured", () => {
  it("fails with upstream's message, before looking at the container", () => {
    const result = chooseInstanceTypes(cluster([]), container(gpu({ stack: "opencl" })));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toBeInstanceOf(NoSuitableInstanceTypeError);
    expect(result.error.kind).toBe("not-configured");
    expect(result.error.message).toBe("site configuration does not list any instance types");
  });
});

describe("an invalid GPU stack", () => {
  it("fails with upstream's message naming the stack", () => {
    const result = chooseInstanceTypes(cluster([instanceType(1)]), container(gpu({ stack: "opencl" })));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.kind).toBe("invalid-gpu-stack");
    expect(result.error.message).toBe(`Invalid GPU stack "opencl", expected to be blank or one of 'cuda' or 'rocm'`);
  });
});

describe("constraints no type satisfies", () => {
  const types = [instanceType(2), instanceType(1), instanceType(3)];
  const result = chooseInstanceTypes(cluster(types), container({ ram: 100 * GiB }));

  it("fails with upstream's message and every configured type, cheapest first", () => {
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.kind).toBe("not-satisfiable");
    expect(result.error.message).toBe("constraints not satisfiable by any configured instance type");
    expect(result.error.availableTypes.map((t) => t.Name)).toEqual(["type1", "type2", "type3"]);
  });

  it("records why each type was rejected, and no price cap", () => {
    expect(result.decision.maxPrice).toBe(0);
    expect(result.decision.chosen).toEqual([]);
    expect(result.decision.rejected.map((r) => r.name)).toEqual(["type1", "type2", "type3"]);
    expect(rejection(result, "type1")).toMatch(/^RAM 1073741824 < needed 113025455157$/);
  });
});

describe("each rule rejects a type that falls short, and the decision says which", () => {
  const ok = instanceType(8, { Name: "ok", Price: 10 });
  const cases: [string, Partial<InstanceType>, ContainerForTypeChoice, string][] = [
    ["scratch", { Scratch: GiB - 1 }, container({ keep_cache_disk: GiB }), `scratch ${GiB - 1} < needed ${GiB}`],
    ["RAM", { RAM: 4 * GiB }, container({ ram: 5 * GiB }), "RAM 4294967296 < needed 5651272757"],
    ["VCPUs", { VCPUs: 1 }, container({ vcpus: 2 }), "VCPUs 1 < needed 2"],
    [
      "preemptible type, on-demand container",
      { Preemptible: true },
      container(),
      "preemptible mismatch (type true, container false)",
    ],
    [
      "on-demand type, preemptible container",
      {},
      container({}, true),
      "preemptible mismatch (type false, container true)",
    ],
    [
      "GPU stack",
      { GPU: { ...noGPU, Stack: "cuda", DeviceCount: 1 } },
      container(gpu({ stack: "rocm" })),
      "GPU stack cuda != rocm",
    ],
    ["no GPU", {}, container(gpu({})), 'GPU stack "" != cuda'],
    [
      "GPU count",
      { GPU: { Stack: "cuda", DriverVersion: "12.0", HardwareTarget: "8.0", DeviceCount: 1, VRAM: 0 } },
      container(gpu({ device_count: 2 })),
      "GPU count 1 < needed 2",
    ],
    [
      "GPU VRAM per GPU",
      { GPU: { Stack: "cuda", DriverVersion: "12.0", HardwareTarget: "8.0", DeviceCount: 1, VRAM: 8 * GiB } },
      container(gpu({ vram: 16 * GiB })),
      `GPU VRAM ${8 * GiB} < needed ${16 * GiB}`,
    ],
  ];

  it.each(cases)("%s", (_rule, override, ctr, reason) => {
    const short = instanceType(8, { Name: "short", Price: 1, ...override });
    const fitting = {
      ...ok,
      Preemptible: ctr.scheduling_parameters.preemptible,
      GPU: { ...short.GPU, DeviceCount: 4, VRAM: 64 * GiB },
    };
    const result = chooseInstanceTypes(cluster([short, fitting], 100), ctr);
    expect(rejection(result, "short")).toBe(reason);
    expect(result.decision.chosen).not.toContain("short");
  });

  it("the rules apply in upstream's order: scratch before RAM before VCPUs", () => {
    const tiny = instanceType(1, { Scratch: 0 });
    const result = chooseInstanceTypes(cluster([tiny]), container({ ram: 5 * GiB, vcpus: 4, keep_cache_disk: GiB }));
    expect(rejection(result, "type1")).toMatch(/^scratch /);
  });

  it("a type exactly meeting every need is accepted", () => {
    const ctr = container({ ram: 5 * GiB, vcpus: 2, keep_cache_disk: GiB });
    const need = instanceResourcesNeeded(cluster([]), ctr);
    const exact = instanceType(2, { RAM: need.RAM, VCPUs: need.VCPUs, Scratch: need.Scratch });
    expect(chosen(chooseInstanceTypes(cluster([exact]), ctr))).toEqual(["type2"]);
  });
});

describe("order: price ascending, then RAM, VCPUs, scratch descending, then name (the verified tie-break)", () => {
  const G = 1e9;
  const at = (Name: string, RAM: number, VCPUs: number, Scratch: number, Price = 1) =>
    instanceType(1, { Name, RAM: RAM * G, VCPUs, Scratch: Scratch * G, Price });
  const types = [
    at("a", 4, 2, 10),
    at("b", 4, 4, 10),
    at("c", 8, 2, 10),
    at("d", 4, 4, 20),
    at("e", 4, 4, 20),
    at("f", 4, 2, 10, 1.4),
    at("g", 4, 2, 10, 1.6),
  ];
  const zeroVCPU = container({ vcpus: 0, ram: GiB });

  it("factor 1.5: [c d e b a f], g is above the cap", () => {
    expect(chosen(chooseInstanceTypes(cluster(types, 1.5), zeroVCPU))).toEqual(["c", "d", "e", "b", "a", "f"]);
  });

  it("factor 0.5 behaves as 1: [c d e b a]", () => {
    expect(chosen(chooseInstanceTypes(cluster(types, 0.5), zeroVCPU))).toEqual(["c", "d", "e", "b", "a"]);
  });

  it("factor 0 behaves as 1 too", () => {
    expect(chosen(chooseInstanceTypes(cluster(types, 0), zeroVCPU))).toEqual(["c", "d", "e", "b", "a"]);
  });

  it("a 0-VCPU container is accepted by every type (before the price cap)", () => {
    const result = chooseInstanceTypes(cluster(types, 10), zeroVCPU);
    expect(chosen(result).sort()).toEqual(["a", "b", "c", "d", "e", "f", "g"]);
  });

  it("the result does not depend on the order types are configured in", () => {
    const expected = chooseInstanceTypes(cluster(types, 1.5), zeroVCPU);
    for (const order of [
      [...types].reverse(),
      [...types.slice(3), ...types.slice(0, 3)],
      [types[6], types[5], ...types.slice(0, 5)],
    ]) {
      const result = chooseInstanceTypes(cluster(order as InstanceType[], 1.5), zeroVCPU);
      expect(result).toEqual(expected);
    }
  });
});

describe("the price cap is the cheapest eligible price × max(MaximumPriceFactor, 1)", () => {
  it("types up to the cap are kept, types above it are rejected with the cap in the reason", () => {
    const types = [
      instanceType(2, { Name: "cheap", Price: 1.6 }),
      instanceType(2, { Name: "at-cap", Price: 2.4 }),
      instanceType(2, { Name: "dear", Price: 3.2 }),
    ];
    const result = chooseInstanceTypes(cluster(types, 1.5), container());
    expect(chosen(result)).toEqual(["cheap", "at-cap"]);
    expect(result.decision.maxPrice).toBe(1.6 * 1.5);
    expect(rejection(result, "dear")).toBe("price 3.2 above cap 2.4 (cheapest 1.6 × 1.5)");
  });

  it("the cap comes from eligible types only: a cheaper type too small for the container does not lower it", () => {
    const types = [
      instanceType(1, { Name: "small-cheap", Price: 0.1 }),
      instanceType(8, { Name: "big", Price: 1 }),
      instanceType(16, { Name: "bigger", Price: 1.5 }),
    ];
    const result = chooseInstanceTypes(cluster(types, 1.5), container({ ram: 4 * GiB }));
    expect(chosen(result)).toEqual(["big", "bigger"]);
    expect(result.decision.maxPrice).toBe(1.5);
    expect(rejection(result, "small-cheap")).toMatch(/^RAM /);
  });

  it("a type priced exactly at the cap is kept, one just above it is dropped", () => {
    const types = [
      instanceType(2, { Name: "one", Price: 1 }),
      instanceType(2, { Name: "at", Price: 1.5 }),
      instanceType(2, { Name: "over", Price: 1.5000001 }),
    ];
    expect(chosen(chooseInstanceTypes(cluster(types, 1.5), container()))).toEqual(["one", "at"]);
  });

  it("the decision records the needed resources and the chosen names", () => {
    const types = [instanceType(2), instanceType(4)];
    const ctr = container({ vcpus: 2 });
    const result = chooseInstanceTypes(cluster(types, 10), ctr);
    expect(result.decision).toEqual({
      needed: instanceResourcesNeeded(cluster(types), ctr),
      maxPrice: 2 * 0.123 * 10,
      chosen: ["type2", "type4"],
      rejected: [],
    });
  });

  it("with a zero-priced eligible type the cap is 0, so only zero-priced types remain (upstream's result when that type comes last)", () => {
    const types = [instanceType(2, { Name: "free", Price: 0 }), instanceType(2, { Name: "paid", Price: 1 })];
    const result = chooseInstanceTypes(cluster(types, 1.5), container());
    expect(chosen(result)).toEqual(["free"]);
    expect(rejection(result, "paid")).toBe("price 1 above cap 0 (cheapest 0 × 1.5)");
  });
});
