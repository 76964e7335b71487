/**
 * Instance-type choice (§2.5 `ChooseInstanceType`): the configured types that can run a
 * container, cheapest first, capped at the cheapest eligible price × MaximumPriceFactor.
 * Pure: config and container in, a result with a decision record out.
 */
import type { ContainersConfig } from "../config/types.js";
import type { InstanceType } from "../model/instance-type.js";
import type { InstanceResources, TypeDecision } from "../model/entry.js";
import { containerGPU, gpuStacks, gpuVersionMismatch } from "./gpu.js";
import { type ContainerForTypeChoice, instanceResourcesNeeded } from "./resources.js";

/** Why no type can run a container. */
export type NoSuitableInstanceTypeKind = "not-configured" | "not-satisfiable" | "invalid-gpu-stack";

/**
 * No configured instance type can run the container. `message` is upstream's exact error text
 * (§1.8), which goes into the container's `runtime_status.error` before it is cancelled;
 * `kind` is what callers branch on.
 */
export class NoSuitableInstanceTypeError extends Error {
  override readonly name = "NoSuitableInstanceTypeError";
  constructor(
    readonly kind: NoSuitableInstanceTypeKind,
    message: string,
    /** For "not-satisfiable": every configured type, cheapest first (upstream AvailableTypes). */
    readonly availableTypes: readonly InstanceType[] = [],
  ) {
    super(message);
  }
}

/** Upstream ErrInstanceTypesNotConfigured. */
export const errNotConfigured = "site configuration does not list any instance types";
/** Upstream ConstraintsNotSatisfiableError text. */
export const errNotSatisfiable = "constraints not satisfiable by any configured instance type";
/** Upstream's message for a GPU stack other than "", "cuda", "rocm" (Go %q quoting). */
export function errInvalidGPUStack(stack: string): string {
  return `Invalid GPU stack ${JSON.stringify(stack)}, expected to be blank or one of 'cuda' or 'rocm'`;
}

/** The outcome of choosing types: never thrown, because "no type fits" is a normal result. */
export type TypeChoice =
  | { ok: true; types: InstanceType[]; decision: TypeDecision }
  | { ok: false; error: NoSuitableInstanceTypeError; decision: TypeDecision };

/** The configuration type choice reads. */
export type TypeChoiceConfig = {
  Containers: Pick<ContainersConfig, "ReserveExtraRAM" | "LocalKeepBlobBuffersPerVCPU" | "MaximumPriceFactor">;
  InstanceTypes: Readonly<Record<string, InstanceType>>;
};

/** §2.5 step 5, rules 2–10: the first resource rule that rejects `it`, or undefined. */
function resourceMismatch(it: InstanceType, need: InstanceResources, ctr: ContainerForTypeChoice): string | undefined {
  const gpu = containerGPU(ctr.runtime_constraints);
  const preemptible = ctr.scheduling_parameters.preemptible;
  const stack = (s: string) => (s === "" ? '""' : s);
  if (it.Scratch < need.Scratch) return `scratch ${it.Scratch} < needed ${need.Scratch}`;
  if (it.RAM < need.RAM) return `RAM ${it.RAM} < needed ${need.RAM}`;
  if (it.VCPUs < need.VCPUs) return `VCPUs ${it.VCPUs} < needed ${need.VCPUs}`;
  // Exact match both ways: a preemptible container never runs on demand, nor the reverse.
  if (it.Preemptible !== preemptible) return `preemptible mismatch (type ${it.Preemptible}, container ${preemptible})`;
  if (it.GPU.Stack !== gpu.stack) return `GPU stack ${stack(it.GPU.Stack)} != ${stack(gpu.stack)}`;
  if (it.GPU.DeviceCount < gpu.device_count) return `GPU count ${it.GPU.DeviceCount} < needed ${gpu.device_count}`;
  if (it.GPU.VRAM < gpu.vram) return `GPU VRAM ${it.GPU.VRAM} < needed ${gpu.vram}`;
  return gpuVersionMismatch(it.GPU, gpu);
}

/** §2.5 step 8: price ascending, then RAM, VCPUs, Scratch descending, then name. */
function compareTypes(a: InstanceType, b: InstanceType): number {
  if (a.Price !== b.Price) return a.Price - b.Price;
  if (a.RAM !== b.RAM) return b.RAM - a.RAM;
  if (a.VCPUs !== b.VCPUs) return b.VCPUs - a.VCPUs;
  if (a.Scratch !== b.Scratch) return b.Scratch - a.Scratch;
  return a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0;
}

/** Prices in reasons: 12 significant digits, so 1.6 × 1.5 reads 2.4, not 2.4000000000000004. */
function price(p: number): string {
  return String(Number(p.toPrecision(12)));
}

/**
 * Chooses the instance types that can run `ctr` (§2.5), cheapest first. Returns
 * `{ ok: false }` with upstream's error when no type is configured, the GPU stack is invalid,
 * or no type satisfies the constraints. The decision records the resources needed, the price
 * cap, the chosen names and, for every rejected type, the rule that rejected it.
 *
 * Upstream iterates the types in random map order and rejects `Price > maxPrice` on the way,
 * while maxPrice is still falling; then it truncates the sorted list at the final maxPrice.
 * An early price rejection never changes upstream's result: a type rejected that way costs
 * more than a maxPrice that is already ≥ the final cap, so truncation would have dropped it
 * too, and accepting it would not have lowered maxPrice (its price × factor exceeds maxPrice).
 * So here the resource rules run first over every type, the cap is then computed from all
 * eligible types (min price × factor: multiplying by a positive factor preserves the order),
 * and the price rule is applied once, by truncation, which gives the same types for every
 * order. Only the recorded reason is order-free where upstream's is not: a type that is both
 * too expensive and too small is reported by its resource rule. With a zero-priced eligible
 * type upstream itself is order-dependent (a 0 maxPrice means "no cap yet"); the true minimum
 * used here equals upstream's result when the zero-priced type comes last.
 */
export function chooseInstanceTypes(config: TypeChoiceConfig, ctr: ContainerForTypeChoice): TypeChoice {
  const needed = instanceResourcesNeeded(config, ctr);
  const decision: TypeDecision = { needed, maxPrice: 0, chosen: [], rejected: [] };
  const fail = (kind: NoSuitableInstanceTypeKind, message: string, available: InstanceType[] = []): TypeChoice => ({
    ok: false,
    error: new NoSuitableInstanceTypeError(kind, message, available),
    decision,
  });

  const configured = Object.values(config.InstanceTypes).sort((a, b) =>
    a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0,
  );
  // Step 1.
  if (configured.length === 0) return fail("not-configured", errNotConfigured);
  // Step 4: upstream returns on the first type it looks at, so only when some type is configured.
  const stack = containerGPU(ctr.runtime_constraints).stack;
  if (stack !== "" && !(gpuStacks as readonly string[]).includes(stack))
    return fail("invalid-gpu-stack", errInvalidGPUStack(stack));

  const eligible: InstanceType[] = [];
  for (const it of configured) {
    const reason = resourceMismatch(it, needed, ctr);
    if (reason === undefined) eligible.push(it);
    else decision.rejected.push({ name: it.Name, reason });
  }
  // Step 7.
  if (eligible.length === 0) {
    const available = [...configured].sort((a, b) => a.Price - b.Price);
    return fail("not-satisfiable", errNotSatisfiable, available);
  }

  // Steps 2, 6: a factor below 1 (0 included) behaves as 1.
  const factor = Math.max(config.Containers.MaximumPriceFactor, 1);
  eligible.sort(compareTypes);
  const cheapest = eligible[0]?.Price ?? 0;
  const maxPrice = cheapest * factor;
  decision.maxPrice = maxPrice;

  // Step 9: keep the cheapest, and every other type priced within the cap.
  const types: InstanceType[] = [];
  for (const [i, it] of eligible.entries()) {
    if (i > 0 && it.Price > maxPrice) {
      decision.rejected.push({
        name: it.Name,
        reason: `price ${price(it.Price)} above cap ${price(maxPrice)} (cheapest ${price(cheapest)} × ${price(factor)})`,
      });
    } else {
      types.push(it);
    }
  }
  decision.rejected.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  decision.chosen = types.map((t) => t.Name);
  return { ok: true, types, decision };
}
