import { describe, expect, it } from "vitest";
import type { Mount, RuntimeConstraints } from "../../lib/model/container.js";
import {
  accommodates,
  type ContainerForTypeChoice,
  estimateDockerImageSize,
  estimateScratchSpace,
  instanceResourcesNeeded,
  type RemainingResources,
  type ResourceConfig,
  subtractResources,
} from "../../lib/instance-types/resources.js";
import type { InstanceResources } from "../../lib/model/entry.js";
import { queuedContainer } from "../support/fixtures.js";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** A PDH whose manifest is `size` bytes long. */
function pdh(size: number | string): string {
  return `${"0123456789abcdef".repeat(2)}+${size}`;
}

/** A container with these runtime constraints (others as the shared fixture) and mounts. */
function container(
  rc: Partial<RuntimeConstraints> = {},
  opts: { image?: string; mounts?: Record<string, Mount> } = {},
): ContainerForTypeChoice {
  const base = queuedContainer(1);
  return {
    ...base,
    container_image: opts.image ?? base.container_image,
    runtime_constraints: { ...base.runtime_constraints, ...rc },
    ...(opts.mounts ? { mounts: opts.mounts } : {}),
  };
}

function config(ReserveExtraRAM = 0, LocalKeepBlobBuffersPerVCPU = 0): ResourceConfig {
  return { Containers: { ReserveExtraRAM, LocalKeepBlobBuffersPerVCPU } };
}

describe("§2.2 the Docker image size is estimated from the manifest size in the PDH", () => {
  it.each([
    [pdh(342), 402653184],
    [pdh(122), 67108864],
    [pdh(121), 0],
    [pdh(34), 0],
    [pdh("-342"), 0],
    [pdh("99999999999999999999"), 0],
    [`${"0123456789ABCDEF".repeat(2)}+342`, 0],
    ["0123456789abcdef+342", 0],
    [`${pdh(342)}+Kabc`, 0],
    ["", 0],
  ])("%s → %d", (input, bytes) => {
    expect(estimateDockerImageSize(input)).toBe(bytes);
  });
});

describe("§2.3 scratch = tmp mounts (at least the image size) + image size + keep_cache_disk", () => {
  it("image +342 and no mounts: twice the image", () => {
    expect(estimateScratchSpace(container({}, { image: pdh(342) }))).toBe(805306368);
  });

  it("image +342, a 1GiB tmp mount, 1GiB keep_cache_disk", () => {
    const ctr = container(
      { keep_cache_disk: GiB },
      { image: pdh(342), mounts: { "/tmp": { kind: "tmp", capacity: GiB } } },
    );
    expect(estimateScratchSpace(ctr)).toBe(2550136832);
  });

  it("only tmp mounts count, and all of them", () => {
    const ctr = container(
      {},
      {
        mounts: {
          "/tmp": { kind: "tmp", capacity: GiB },
          "/scratch": { kind: "tmp", capacity: 2 * GiB },
          "/keep": { kind: "collection", capacity: 100 * GiB },
          "/out": { kind: "tmp" },
        },
      },
    );
    expect(estimateScratchSpace(ctr)).toBe(3 * GiB);
  });

  it("no mounts and no image estimate: just keep_cache_disk", () => {
    expect(estimateScratchSpace(container({ keep_cache_disk: 5 * GiB }))).toBe(5 * GiB);
  });
});

describe("§2.4 RAM needed, with upstream's int64 truncating arithmetic (verified values)", () => {
  const rc = { ram: 987654321, keep_cache_ram: 123456789, vcpus: 2 };

  it.each([
    ["ram + keep_cache_ram, no extras", config(0, 0), rc, 1169590642],
    ["+ ReserveExtraRAM 256MiB + 1 blob buffer per VCPU", config(268435456, 1), rc, 1850392406],
    ["+ 16 blob buffers per VCPU", config(268435456, 16), rc, 4181542418],
    ["ram 1GiB, no extras", config(), { ram: GiB, keep_cache_ram: 0, vcpus: 1 }, 1130254551],
    ["ram 2GiB, no extras", config(), { ram: 2 * GiB, keep_cache_ram: 0, vcpus: 1 }, 2260509103],
    ["ram 3GiB, no extras", config(), { ram: 3 * GiB, keep_cache_ram: 0, vcpus: 1 }, 3390763654],
    ["ram 4GiB, no extras", config(), { ram: 4 * GiB, keep_cache_ram: 0, vcpus: 1 }, 4521018206],
    ["ram 5GiB, no extras", config(), { ram: 5 * GiB, keep_cache_ram: 0, vcpus: 1 }, 5651272757],
    [
      "cluster defaults (550MiB, 1 buffer), ram 1GiB, 1 VCPU",
      config(550 * MiB, 1),
      { ram: GiB, keep_cache_ram: 0, vcpus: 1 },
      2057857993,
    ],
  ])("%s → %d", (_name, cfg, constraints, needRAM) => {
    expect(instanceResourcesNeeded(cfg, container(constraints)).RAM).toBe(needRAM);
  });

  it("products past 2^53 stay exact where floating point would round up", () => {
    // ram × 100 passes 2^53 here; Math.trunc(ram * 100 / 95) gives 1185157878560778.
    expect(instanceResourcesNeeded(config(), container({ ram: 1125899984632739, keep_cache_ram: 0 })).RAM).toBe(
      1185157878560777,
    );
  });
});

describe("§2.4 the other resources are copied from the constraints", () => {
  it("VCPUs, scratch, GPU count and per-GPU VRAM", () => {
    const ctr = container(
      {
        vcpus: 8,
        gpu: { stack: "cuda", driver_version: "11.0", hardware_target: ["8.0"], device_count: 2, vram: 8 * GiB },
      },
      { image: pdh(342) },
    );
    expect(instanceResourcesNeeded(config(), ctr)).toMatchObject({
      VCPUs: 8,
      Scratch: 805306368,
      GPUs: 2,
      GPUVRAM: 8 * GiB,
    });
  });

  it("a container without gpu constraints (older API servers) needs no GPU", () => {
    const ctr = container();
    const { gpu: _gpu, ...rcWithoutGpu } = ctr.runtime_constraints;
    const resources = instanceResourcesNeeded(config(), {
      ...ctr,
      runtime_constraints: rcWithoutGpu as RuntimeConstraints,
    });
    expect(resources).toMatchObject({ GPUs: 0, GPUVRAM: 0 });
  });
});

describe("§2.6 accommodates and subtractResources pack containers onto an instance", () => {
  const need = (r: Partial<InstanceResources>): InstanceResources => ({
    VCPUs: 1,
    RAM: GiB,
    Scratch: GiB,
    GPUs: 0,
    GPUVRAM: 0,
    ...r,
  });
  const instance: RemainingResources = {
    VCPUs: 4,
    RAM: 16 * GiB,
    Scratch: 100 * GiB,
    GPUs: 1,
    GPUVRAM: 16 * GiB,
    sharedVCPUUsed: false,
  };

  it("fits when every resource suffices", () => {
    expect(
      accommodates(instance, need({ VCPUs: 4, RAM: 16 * GiB, Scratch: 100 * GiB, GPUs: 1, GPUVRAM: 16 * GiB })),
    ).toBe(true);
  });

  it.each([
    ["VCPUs", { VCPUs: 5 }],
    ["RAM", { RAM: 16 * GiB + 1 }],
    ["Scratch", { Scratch: 100 * GiB + 1 }],
    ["GPUs", { GPUs: 2 }],
    ["GPUVRAM", { GPUVRAM: 16 * GiB + 1 }],
  ])("does not fit when %s falls short", (_name, r) => {
    expect(accommodates(instance, need(r))).toBe(false);
  });

  it("an instance with no VCPUs left takes nothing, not even a 0-VCPU container", () => {
    expect(accommodates({ ...instance, VCPUs: 0 }, need({ VCPUs: 0 }))).toBe(false);
  });

  it("0-VCPU containers share one VCPU: after one, a container needing all VCPUs no longer fits", () => {
    const after = subtractResources(instance, need({ VCPUs: 0, RAM: GiB }));
    expect(after).toEqual({ ...instance, RAM: 15 * GiB, Scratch: 99 * GiB, sharedVCPUUsed: true });
    expect(accommodates(after, need({ VCPUs: 4 }))).toBe(false);
    expect(accommodates(after, need({ VCPUs: 3 }))).toBe(true);
    expect(accommodates(after, need({ VCPUs: 0 }))).toBe(true);
  });

  it("subtracting a container with VCPUs leaves the shared flag as it was", () => {
    expect(subtractResources(instance, need({ VCPUs: 2 }))).toMatchObject({ VCPUs: 2, sharedVCPUUsed: false });
  });
});
