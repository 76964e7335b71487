/**
 * type-choice: chooseInstanceTypes throughput over synthetic containers against the example
 * config's instance types (local/default-config.yml). Pure CPU: no services.
 */
import { fileURLToPath } from "node:url";
import type { Mount, QueuedContainer } from "../lib/model/container.js";
import { loadClusterConfig } from "../lib/config/load.js";
import { containerPriority } from "../local/arvados-sim/priority.js";
import { chooseInstanceTypes } from "../lib/instance-types/choose.js";
import type { ContainerForTypeChoice } from "../lib/instance-types/resources.js";
import { type Benchmark, fixed, note, printTable, timed } from "./harness.js";

const count = Number(process.env.BENCH_TYPE_CHOICE_CONTAINERS ?? 100_000);
const configPath = fileURLToPath(new URL("../local/default-config.yml", import.meta.url));
const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** Container i of a deterministic mix: sizes from tiny to unsatisfiable, some preemptible, some GPU, some scratch. */
export function syntheticContainer(i: number): ContainerForTypeChoice {
  const vcpus = [1, 1, 2, 2, 4, 8, 16][i % 7] ?? 1;
  const ram = [256 * MiB, 1 * GiB, 2 * GiB, 6 * GiB, 12 * GiB, 28 * GiB, 64 * GiB][(i >> 3) % 7] ?? GiB;
  const gpu = i % 29 === 0;
  const container: QueuedContainer = {
    uuid: `zzzzz-dz642-${i.toString().padStart(15, "0")}`,
    state: "Queued",
    // What the API server assigns (§5.6): request priority 1..1000, requests 1 ms apart.
    priority: containerPriority(1 + (i % 1000), Date.UTC(2024, 0, 1) + i),
    runtime_constraints: {
      ram,
      vcpus,
      keep_cache_ram: 0,
      keep_cache_disk: i % 5 === 0 ? 2 * GiB : 0,
      gpu: gpu
        ? { stack: "cuda", driver_version: "11.0", hardware_target: ["7.5"], device_count: 1, vram: 8 * GiB }
        : { stack: "", driver_version: "", hardware_target: [], device_count: 0, vram: 0 },
    },
    container_image: `${"d".repeat(32)}+${200 + (i % 11) * 400}`,
    scheduling_parameters: { partitions: [], preemptible: i % 10 === 0, max_run_time: 0, supervisor: false },
    created_at: "2024-01-01T00:00:00Z",
    locked_by_uuid: null,
  };
  const mounts: Record<string, Mount> =
    i % 3 === 0 ? { "/tmp": { kind: "tmp", capacity: (1 + (i % 20)) * 10 * GiB } } : {};
  return { ...container, mounts };
}

async function run(): Promise<void> {
  const { config } = loadClusterConfig(configPath);
  const inputs = Array.from({ length: count }, (_, i) => syntheticContainer(i));
  // Warm up the JIT on a slice so the timed loop measures steady throughput.
  for (const ctr of inputs.slice(0, 2_000)) chooseInstanceTypes(config, ctr);
  let ok = 0;
  let typesTotal = 0;
  const { seconds } = await timed(async () => {
    for (const ctr of inputs) {
      const choice = chooseInstanceTypes(config, ctr);
      if (choice.ok) {
        ok++;
        typesTotal += choice.types.length;
      }
    }
  });
  printTable(
    `type-choice: chooseInstanceTypes over ${count} synthetic containers, ${Object.keys(config.InstanceTypes).length} configured types`,
    ["containers", "wall s", "containers/s", "µs/container", "satisfiable", "mean types per choice"],
    [
      [
        count,
        fixed(seconds, 3),
        fixed(count / seconds, 0),
        fixed((seconds * 1e6) / count),
        ok,
        fixed(typesTotal / Math.max(ok, 1)),
      ],
    ],
  );
  note(
    "Mix: 1–16 VCPUs, 256 MiB–64 GiB RAM, 1 in 10 preemptible, 1 in 29 GPU (cuda), 1 in 3 with a 10–200 GiB tmp mount, image manifests of 200–4,200 bytes; the unsatisfiable ones (too big) take the error path.",
  );
}

export const typeChoice: Benchmark = {
  name: "type-choice",
  title: "chooseInstanceTypes throughput",
  needsDynamoDb: false,
  run,
};
