/**
 * The soak's workload: `count` containers of the shapes local/workload.json uses (all fit
 * local/default-config.yml), with seeded sizes, request priorities (1..1000, from which the
 * simulator assigns the int64 container priorities, §5.6), runtimes and submission times,
 * plus a few no instance type can satisfy, whose only correct end is Cancelled with upstream's
 * runtime_status.error, and one spot container in four whose instance EC2 reclaims as soon as
 * it runs (cleanup cancels it, or it completes first).
 */
import { parseWorkload, type Workload } from "../workload.js";
import { between, pick, type Random } from "./random.js";

/** Label prefix of the containers no instance type can satisfy. */
export const unsatisfiablePrefix = "unsatisfiable-";

/** upstream's runtime_status.error for a container no configured type fits (§2). */
export const unsatisfiableError = "constraints not satisfiable by any configured instance type";

type Shape = Record<string, unknown> & { name: string };

// Weighted by repetition: mostly small containers, as on a real cluster.
const shapes: readonly [Shape, ...Shape[]] = [
  { name: "small", ram: "2GiB", vcpus: 1, scratch: "20GiB" },
  { name: "small", ram: "2GiB", vcpus: 1, scratch: "20GiB" },
  { name: "small", ram: "2GiB", vcpus: 1 },
  { name: "medium", ram: "3GiB", vcpus: 2 },
  { name: "medium", ram: "3GiB", vcpus: 2 },
  { name: "highmem", ram: "12GiB", vcpus: 2, scratch: "30GiB" },
  { name: "cpu", ram: "8GiB", vcpus: 8 },
  { name: "bigmem", ram: "28GiB", vcpus: 4, scratch: "80GiB" },
  { name: "bigmem-8cpu", ram: "28GiB", vcpus: 8 },
  { name: "spot", ram: "4GiB", vcpus: 2, preemptible: true },
  { name: "spot", ram: "4GiB", vcpus: 2, preemptible: true },
  {
    name: "gpu",
    ram: "8GiB",
    vcpus: 4,
    gpu: { stack: "cuda", device_count: 1, driver_version: "11.8", hardware_target: ["7.5"], vram: "8GiB" },
  },
];

/** How to build the workload. */
export interface SoakWorkloadOptions {
  count: number;
  /** Submissions are spread over [0, submitWindowSeconds]. */
  submitWindowSeconds: number;
  /** Runtime of each container once crunch-run starts it, drawn from [min, max] seconds. */
  runtimeSeconds: { min: number; max: number };
  random: Random;
}

/**
 * `count` containers: one in 50 (at least one) unsatisfiable, one in 100 (at least one) a
 * supervisor, the rest drawn from the shapes above. Each has a unique name, so its label is its
 * name and the unsatisfiable ones are known by label.
 */
export function soakWorkload(options: SoakWorkloadOptions): Workload {
  const { count, random } = options;
  const unsatisfiableEvery = Math.min(50, Math.max(2, count));
  const supervisorEvery = Math.min(100, Math.max(3, count));
  let spotContainers = 0;
  const containers = Array.from({ length: count }, (_, i) => {
    const base: Shape =
      i % unsatisfiableEvery === unsatisfiableEvery - 1
        ? { name: "unsatisfiable", ram: "2TiB", vcpus: 4 }
        : i % supervisorEvery === 1
          ? { name: "supervisor", ram: "1GiB", vcpus: 1, supervisor: true }
          : pick(random, shapes);
    const name = base.name === "unsatisfiable" ? `${unsatisfiablePrefix}${i + 1}` : `${base.name}-${i + 1}`;
    // Counted, not drawn, so the other draws (and a seed's workload) stay as they were.
    const reclaimed = base.preemptible === true && spotContainers++ % 4 === 0;
    return {
      ...base,
      ...(reclaimed ? { spotInterruptionAfterSeconds: 0 } : {}),
      name,
      // The container request's priority; the container's is request × 2^50 − request created_at ms.
      priority: between(random, 1, 1000),
      submitAfterSeconds: Math.round(random() * options.submitWindowSeconds * 10) / 10,
      runtimeSeconds: between(random, options.runtimeSeconds.min, options.runtimeSeconds.max),
    };
  });
  return parseWorkload(
    { description: `fault soak, ${count} containers`, runtimeSeconds: 1, containers },
    "soak workload",
  );
}
