/**
 * The GPU checks of §2.5 step 4: driver version and hardware target (capability) of an
 * instance type against a container's `runtime_constraints.gpu`.
 */
import type { GPURuntimeConstraints, RuntimeConstraints } from "../model/container.js";
import { parseGoFloat } from "../config/go-float.js";
import type { GPUFeatures } from "../model/instance-type.js";

/** The GPU stacks upstream knows; any other non-empty stack makes the container unsatisfiable. */
export const gpuStacks = ["cuda", "rocm"] as const;

/**
 * A container's GPU constraints with every field present. API servers before the `gpu`
 * constraint existed send none; upstream's Go decoding then sees zero values.
 */
export function containerGPU(rc: RuntimeConstraints): GPURuntimeConstraints {
  const gpu: Partial<GPURuntimeConstraints> | undefined = rc.gpu;
  return {
    stack: gpu?.stack ?? "",
    driver_version: gpu?.driver_version ?? "",
    hardware_target: gpu?.hardware_target ?? [],
    device_count: gpu?.device_count ?? 0,
    vram: gpu?.vram ?? 0,
  };
}

/** `versionLess(a, b)`: a < b as floats, or the reason one of them is not a float as Go's ParseFloat reads it. */
export type VersionComparison = { ok: true; less: boolean } | { ok: false; error: string };

/** §2.5 versionLess: both strings parsed with Go's strconv.ParseFloat; "" or "12.0.12" is an error. */
export function versionLess(a: string, b: string): VersionComparison {
  const va = parseGoFloat(a);
  if (!va.ok) return { ok: false, error: `${JSON.stringify(a)}: ${va.error}` };
  const vb = parseGoFloat(b);
  if (!vb.ok) return { ok: false, error: `${JSON.stringify(b)}: ${vb.error}` };
  return { ok: true, less: va.value < vb.value };
}

/** Why a type's GPU falls short (rules 9 and 10 of §2.5 step 5), or undefined if it does not. */
export function gpuVersionMismatch(it: GPUFeatures, want: GPURuntimeConstraints): string | undefined {
  // Rules 9 and 10 apply only to containers that ask for GPUs.
  if (want.device_count <= 0) return undefined;
  const driver = versionLess(it.DriverVersion, want.driver_version);
  if (!driver.ok) return `GPU driver version not comparable (${driver.error})`;
  if (driver.less) return `GPU driver ${it.DriverVersion} < needed ${want.driver_version}`;
  return capabilityMismatch(it.HardwareTarget, want);
}

function capabilityMismatch(target: string, want: GPURuntimeConstraints): string | undefined {
  const targets = want.hardware_target;
  const listed = `[${targets.join(", ")}]`;
  switch (want.stack) {
    case "cuda": {
      // Several targets: the type's compute capability must be one of them exactly.
      if (targets.length > 1)
        return targets.includes(target) ? undefined : `GPU hardware target ${target} not in ${listed}`;
      const only = targets[0];
      // No target: upstream treats the capability as insufficient.
      if (only === undefined) return "no CUDA hardware target requested";
      // One target: a minimum compute capability, compared as X.Y floats.
      const cmp = versionLess(target, only);
      if (!cmp.ok) return `GPU hardware target not comparable (${cmp.error})`;
      return cmp.less ? `GPU hardware target ${target} < needed ${only}` : undefined;
    }
    case "rocm":
      // ROCm targets are LLVM names (gfx1100): only an exact match will do.
      return targets.includes(target) ? undefined : `GPU hardware target ${target} not in ${listed}`;
    default:
      // "" needs no capability check; other stacks were refused before any type was looked at.
      return undefined;
  }
}
