import { describe, expect, it } from "vitest";
import type { GPURuntimeConstraints } from "../../lib/model/container.js";
import type { GPUFeatures, InstanceType } from "../../lib/model/instance-type.js";
import { chooseInstanceTypes, type TypeChoice } from "../../lib/instance-types/choose.js";
import { versionLess } from "../../lib/instance-types/gpu.js";
import type { ContainerForTypeChoice } from "../../lib/instance-types/resources.js";
import { queuedContainer } from "../support/fixtures.js";

const GiB = 2 ** 30;

/** A 4-VCPU, 16GiB type named `name` with this GPU (one 16GiB device, driver 12.0 unless given). */
function gpuType(name: string, gpu: Partial<GPUFeatures>): InstanceType {
  return {
    Name: name,
    ProviderType: name,
    VCPUs: 4,
    RAM: 16 * GiB,
    Scratch: 100 * GiB,
    IncludedScratch: 100 * GiB,
    AddedScratch: 0,
    Price: 0.5,
    Preemptible: false,
    GPU: { Stack: "cuda", DriverVersion: "12.0", HardwareTarget: "8.0", DeviceCount: 1, VRAM: 16 * GiB, ...gpu },
  };
}

/** A 1-VCPU, 1GiB container asking for one GPU with these constraints. */
function gpuContainer(gpu: Partial<GPURuntimeConstraints>): ContainerForTypeChoice {
  const base = queuedContainer(1);
  return {
    ...base,
    runtime_constraints: {
      ...base.runtime_constraints,
      gpu: { stack: "cuda", driver_version: "11.0", hardware_target: ["8.0"], device_count: 1, vram: 0, ...gpu },
    },
  };
}

function choose(types: InstanceType[], ctr: ContainerForTypeChoice): TypeChoice {
  return chooseInstanceTypes(
    {
      Containers: { ReserveExtraRAM: 0, LocalKeepBlobBuffersPerVCPU: 0, MaximumPriceFactor: 1.5 },
      InstanceTypes: Object.fromEntries(types.map((t) => [t.Name, t])),
    },
    ctr,
  );
}

function outcome(types: InstanceType[], ctr: ContainerForTypeChoice): Record<string, string> {
  const result = choose(types, ctr);
  const out: Record<string, string> = {};
  for (const name of result.decision.chosen) out[name] = "chosen";
  for (const r of result.decision.rejected) out[r.name] = r.reason;
  return out;
}

describe("versionLess compares as Go's ParseFloat reads the strings", () => {
  it.each([
    ["11.0", "12.0", true],
    ["12.0", "11.0", false],
    ["12.0", "12", false],
    ["8.6", "8.9", true],
    ["9.0", "8.9", false],
    // A float comparison, not a version one: 12.10 < 12.9.
    ["12.10", "12.9", true],
  ])("%s < %s is %s", (a, b, less) => {
    expect(versionLess(a, b)).toEqual({ ok: true, less });
  });

  it.each([
    ["", "11.0"],
    ["12.0.12", "11.0"],
    ["11.0", ""],
    ["11.0", "v12"],
  ])("%j vs %j is an error", (a, b) => {
    expect(versionLess(a, b).ok).toBe(false);
  });
});

describe("driver version: a type's GPU driver must be at least the container's", () => {
  const types = [
    gpuType("old", { DriverVersion: "11.0" }),
    gpuType("new", { DriverVersion: "12.4" }),
    gpuType("bad", { DriverVersion: "12.0.12" }),
  ];

  it("older drivers are rejected; unparseable type versions are rejected", () => {
    expect(outcome(types, gpuContainer({ driver_version: "12.0" }))).toEqual({
      new: "chosen",
      old: "GPU driver 11.0 < needed 12.0",
      bad: 'GPU driver version not comparable ("12.0.12": invalid syntax)',
    });
  });

  it("an equal driver version is enough", () => {
    expect(outcome([gpuType("same", { DriverVersion: "12.0" })], gpuContainer({ driver_version: "12.0" }))).toEqual({
      same: "chosen",
    });
  });

  it("an unparseable container version rejects every type", () => {
    const result = choose(types, gpuContainer({ driver_version: "12.0.12" }));
    expect(result.ok).toBe(false);
    expect(result.decision.rejected.every((r) => r.reason.startsWith("GPU driver version not comparable"))).toBe(true);
  });

  it('an empty container driver version ("") is unparseable too', () => {
    expect(choose(types, gpuContainer({ driver_version: "" })).ok).toBe(false);
  });

  it("versions are not checked for containers that ask for no GPU", () => {
    const noGpuType = {
      ...gpuType("cpu", {}),
      GPU: { Stack: "", DriverVersion: "", HardwareTarget: "", DeviceCount: 0, VRAM: 0 },
    };
    const ctr = gpuContainer({ stack: "", driver_version: "", hardware_target: [], device_count: 0 });
    expect(outcome([noGpuType], ctr)).toEqual({ cpu: "chosen" });
  });
});

describe("CUDA hardware target", () => {
  const types = [
    gpuType("t4", { HardwareTarget: "7.5" }),
    gpuType("a100", { HardwareTarget: "8.0" }),
    gpuType("l4", { HardwareTarget: "8.9" }),
  ];

  it("one target is a minimum compute capability", () => {
    expect(outcome(types, gpuContainer({ hardware_target: ["8.0"] }))).toEqual({
      a100: "chosen",
      l4: "chosen",
      t4: "GPU hardware target 7.5 < needed 8.0",
    });
  });

  it("several targets must match exactly", () => {
    expect(outcome(types, gpuContainer({ hardware_target: ["7.5", "8.9"] }))).toEqual({
      t4: "chosen",
      l4: "chosen",
      a100: "GPU hardware target 8.0 not in [7.5, 8.9]",
    });
  });

  it("exact matching compares strings: 8.0 is not 8", () => {
    expect(
      outcome([gpuType("a100", { HardwareTarget: "8.0" })], gpuContainer({ hardware_target: ["8", "9"] })),
    ).toEqual({
      a100: "GPU hardware target 8.0 not in [8, 9]",
    });
  });

  it("no target rejects every type", () => {
    const result = choose(types, gpuContainer({ hardware_target: [] }));
    expect(result.ok).toBe(false);
    expect(result.decision.rejected.map((r) => r.reason)).toEqual(Array(3).fill("no CUDA hardware target requested"));
  });

  it("an unparseable single target is an error, so the type is rejected", () => {
    expect(outcome([gpuType("a100", {})], gpuContainer({ hardware_target: ["sm_80"] }))).toEqual({
      a100: 'GPU hardware target not comparable ("sm_80": invalid syntax)',
    });
  });
});

describe("ROCm hardware target: an LLVM target that must match exactly", () => {
  const types = [
    gpuType("mi300", { Stack: "rocm", HardwareTarget: "gfx942" }),
    gpuType("w7900", { Stack: "rocm", HardwareTarget: "gfx1100" }),
  ];

  it("a type whose target is listed is chosen, others are rejected", () => {
    expect(outcome(types, gpuContainer({ stack: "rocm", hardware_target: ["gfx1100"] }))).toEqual({
      w7900: "chosen",
      mi300: "GPU hardware target gfx942 not in [gfx1100]",
    });
  });

  it("several targets: any listed one will do", () => {
    const result = choose(types, gpuContainer({ stack: "rocm", hardware_target: ["gfx942", "gfx1100"] }));
    expect(result.decision.chosen.sort()).toEqual(["mi300", "w7900"]);
  });

  it("a CUDA type never runs a ROCm container", () => {
    expect(outcome([gpuType("a100", {})], gpuContainer({ stack: "rocm", hardware_target: ["gfx1100"] }))).toEqual({
      a100: "GPU stack cuda != rocm",
    });
  });
});

describe("a GPU type never runs a container that asks for no GPU", () => {
  it("stack mismatch", () => {
    const ctr = gpuContainer({ stack: "", driver_version: "", hardware_target: [], device_count: 0 });
    expect(outcome([gpuType("g4dn", {})], ctr)).toEqual({ g4dn: 'GPU stack cuda != ""' });
  });
});
