/**
 * What a container needs from an instance (§2.2–§2.4, §2.6), computed exactly as upstream's
 * `node_size.go`: int64 arithmetic, truncating division, left-to-right evaluation. BigInt
 * carries the intermediate values, because products such as `ram * 100` pass 2^53 for
 * realistic sizes, and `BigInt.asIntN(64, …)` keeps Go's wrap-around for absurd ones.
 */
import type { Mount, QueuedContainer } from "../model/container.js";
import type { ContainersConfig } from "../config/types.js";
import type { InstanceResources } from "../model/entry.js";
import { containerGPU } from "./gpu.js";

/** A container as type choice sees it: the cached record plus its `mounts` (fetched once, §1.8). */
export type ContainerForTypeChoice = QueuedContainer & { mounts?: Record<string, Mount> | null };

/** The configuration the resource estimate reads. */
export type ResourceConfig = { Containers: Pick<ContainersConfig, "ReserveExtraRAM" | "LocalKeepBlobBuffersPerVCPU"> };

/** §2.4: RAM is discounted by 5% (`discountConfiguredRAMPercent`): need × 100 / 95. */
export const discountConfiguredRAMPercent = 5n;

const MiB = 1n << 20n;

/** Go int64 arithmetic: wrap to 64 bits after every operation. */
function i64(x: bigint): bigint {
  return BigInt.asIntN(64, x);
}

/** A JS number from the API as a Go int64 (non-integers truncated, non-finite as 0). */
function int64(n: number | undefined): bigint {
  return n !== undefined && Number.isFinite(n) ? i64(BigInt(Math.trunc(n))) : 0n;
}

const PDH_WITH_SIZE = /^[0-9a-f]{32}\+([0-9]+)$/;
const MAX_INT64 = (1n << 63n) - 1n;

/**
 * §2.2: disk space for a Docker image saved by arv-keepdocker, estimated from the size of its
 * manifest (the `+N` of the portable data hash): `((N-80)/42) × 64MiB`, or 0 when the PDH
 * does not have that form or N < 122.
 */
export function estimateDockerImageSize(pdh: string): number {
  const digits = PDH_WITH_SIZE.exec(pdh)?.[1];
  if (digits === undefined) return 0;
  const n = BigInt(digits);
  // strconv.ParseInt fails past int64; upstream then returns 0.
  if (n > MAX_INT64 || n < 122n) return 0;
  return Number(i64(((n - 80n) / 42n) * (64n * MiB)));
}

function scratchNeeded(ctr: ContainerForTypeChoice): bigint {
  let need = 0n;
  for (const mount of Object.values(ctr.mounts ?? {})) {
    if (mount.kind === "tmp") need = i64(need + int64(mount.capacity));
  }
  const image = BigInt(estimateDockerImageSize(ctr.container_image));
  // The image tarball is buffered during `docker load` and released to the job afterwards,
  // so the tmp space must at least cover it; then the extracted image needs as much again.
  if (need < image) need = image;
  need = i64(need + image);
  return i64(need + int64(ctr.runtime_constraints.keep_cache_disk));
}

/** §2.3: scratch bytes a container needs: tmp mounts (at least the image size) + image + keep_cache_disk. */
export function estimateScratchSpace(ctr: ContainerForTypeChoice): number {
  return Number(scratchNeeded(ctr));
}

/**
 * §2.4: resources a container needs on an instance. RAM = (ram + keep_cache_ram +
 * ReserveExtraRAM [+ 220MiB + LKBB/VCPU × vcpus × 64MiB × 11/10]) × 100/95.
 */
export function instanceResourcesNeeded(config: ResourceConfig, ctr: ContainerForTypeChoice): InstanceResources {
  const rc = ctr.runtime_constraints;
  let needRAM = i64(int64(rc.ram) + int64(rc.keep_cache_ram));
  needRAM = i64(needRAM + int64(config.Containers.ReserveExtraRAM));
  const buffersPerVCPU = int64(config.Containers.LocalKeepBlobBuffersPerVCPU);
  if (buffersPerVCPU > 0n) {
    // keepstore process (200MiB) + 10% for GOGC=10 ...
    needRAM = i64(needRAM + 220n * MiB);
    // ... and 64MiB per blob buffer + 10%, evaluated left to right as Go does.
    needRAM = i64(needRAM + i64(i64(i64(i64(buffersPerVCPU * int64(rc.vcpus)) * (1n << 26n)) * 11n) / 10n));
  }
  needRAM = i64(needRAM * 100n) / (100n - discountConfiguredRAMPercent);
  const gpu = containerGPU(rc);
  return {
    VCPUs: rc.vcpus,
    RAM: Number(needRAM),
    Scratch: Number(scratchNeeded(ctr)),
    GPUs: gpu.device_count,
    GPUVRAM: gpu.vram,
  };
}

/**
 * An instance's remaining resources while packing containers onto it (§2.6).
 * `sharedVCPUUsed` records that 0-VCPU containers are sharing one VCPU.
 */
export interface RemainingResources extends InstanceResources {
  sharedVCPUUsed: boolean;
}

/** §2.6 Accommodates: the remaining resources `r` can take container `need`. */
export function accommodates(r: RemainingResources, need: InstanceResources): boolean {
  return (
    r.VCPUs >= need.VCPUs &&
    r.RAM >= need.RAM &&
    r.Scratch >= need.Scratch &&
    r.GPUs >= need.GPUs &&
    r.GPUVRAM >= need.GPUVRAM &&
    r.VCPUs > 0 &&
    // Once 0-VCPU containers share a VCPU, only VCPUs - 1 are left for the others.
    (!r.sharedVCPUUsed || r.VCPUs > need.VCPUs)
  );
}

/** §2.6 Sub: `r` minus container `need`; a 0-VCPU container marks one VCPU as shared. */
export function subtractResources(r: RemainingResources, need: InstanceResources): RemainingResources {
  return {
    VCPUs: r.VCPUs - need.VCPUs,
    RAM: r.RAM - need.RAM,
    Scratch: r.Scratch - need.Scratch,
    GPUs: r.GPUs - need.GPUs,
    GPUVRAM: r.GPUVRAM - need.GPUVRAM,
    sharedVCPUUsed: r.sharedVCPUUsed || need.VCPUs === 0,
  };
}
