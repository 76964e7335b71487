import type { QueuedContainer } from "../../lib/arvados/types.js";
import type { QueueEntry } from "../../lib/queue/types.js";

/** The i-th container uuid of the test cluster, as upstream's fixtures number them. */
export function containerUuid(i: number): string {
  return `zzzzz-dz642-${String(i).padStart(15, "0")}`;
}

/** A container as the queue caches it, with upstream's defaults; override any field. */
export function queuedContainer(i: number, overrides: Partial<QueuedContainer> = {}): QueuedContainer {
  return {
    uuid: containerUuid(i),
    state: "Queued",
    priority: 1,
    runtime_constraints: {
      ram: 1 << 30,
      vcpus: 1,
      keep_cache_ram: 0,
      keep_cache_disk: 0,
      gpu: { stack: "", driver_version: "", hardware_target: [], device_count: 0, vram: 0 },
    },
    container_image: "d41d8cd98f00b204e9800998ecf8427e+0",
    scheduling_parameters: { partitions: [], preemptible: false, max_run_time: 0, supervisor: false },
    created_at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    ...overrides,
  };
}

/** A cache entry for `queuedContainer(i)`. */
export function queueEntry(i: number, container: Partial<QueuedContainer> = {}, overrides: Partial<QueueEntry> = {}): QueueEntry {
  return {
    container: queuedContainer(i, container),
    firstSeenAt: "2026-01-01T00:00:00.000Z",
    version: 1,
    ...overrides,
  };
}
