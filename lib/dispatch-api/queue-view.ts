/**
 * Queue entries as upstream's management API renders them: `scheduler.QueueEnt`, i.e.
 * `container.QueueEnt` (`container`, `instance_resources`, `instance_types`, `first_seen_at`)
 * plus `scheduling_status`, encoded by Go's encoding/json. Go writes every struct field, so the
 * container carries all of `arvados.Container` with zero values where the queue keeps nothing
 * (upstream's queue populates the same few fields), an instance type has no `Name` or `Scratch`
 * (both `json:"-"`), and times are RFC 3339 with trailing zeros of the fraction cut.
 */
import type { QueuedContainer } from "../model/container.js";
import { type InstanceType, resolveInstanceTypes } from "../model/instance-type.js";
import type { InstanceResources, QueueEntry } from "../model/entry.js";

/** Go's zero time.Time, as encoding/json writes it. */
export const goZeroTime = "0001-01-01T00:00:00Z";

/** A time as Go's time.Time MarshalJSON writes it (RFC3339Nano: the fraction without trailing zeros). */
export function goTime(iso: string | undefined): string {
  if (iso === undefined || iso === "") return goZeroTime;
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(iso);
  if (match === null) return iso;
  const fraction = (match[2] ?? "").replace(/0+$/, "");
  return `${match[1]}${fraction === "" ? "" : `.${fraction}`}${match[3]}`;
}

/** arvados.Container with Go's field order; what the queue does not keep is Go's zero value. */
function containerView(c: QueuedContainer): Record<string, unknown> {
  // Entries are as the API server rendered them, defaults filled; an older item may lack a part.
  const rc: Partial<QueuedContainer["runtime_constraints"]> = c.runtime_constraints ?? {};
  const gpu: Partial<QueuedContainer["runtime_constraints"]["gpu"]> = rc.gpu ?? {};
  const sp: Partial<QueuedContainer["scheduling_parameters"]> = c.scheduling_parameters ?? {};
  return {
    uuid: c.uuid,
    etag: "",
    created_at: goTime(c.created_at),
    modified_by_user_uuid: "",
    modified_at: goZeroTime,
    command: null,
    container_image: c.container_image,
    cwd: "",
    environment: null,
    locked_by_uuid: c.locked_by_uuid ?? "",
    lock_count: 0,
    mounts: null,
    output: "",
    output_path: "",
    output_glob: null,
    priority: c.priority,
    runtime_constraints: {
      API: rc.API === true,
      ram: rc.ram ?? 0,
      vcpus: rc.vcpus ?? 0,
      keep_cache_ram: rc.keep_cache_ram ?? 0,
      keep_cache_disk: rc.keep_cache_disk ?? 0,
      gpu: {
        stack: gpu.stack ?? "",
        driver_version: gpu.driver_version ?? "",
        hardware_target: gpu.hardware_target ?? null,
        device_count: gpu.device_count ?? 0,
        vram: gpu.vram ?? 0,
      },
    },
    state: c.state,
    scheduling_parameters: {
      partitions: sp.partitions ?? null,
      preemptible: sp.preemptible === true,
      max_run_time: sp.max_run_time ?? 0,
      supervisor: sp.supervisor === true,
    },
    exit_code: 0,
    runtime_status: null,
    started_at: null,
    finished_at: null,
    gateway_address: "",
    interactive_session_started: false,
    output_storage_classes: null,
    runtime_user_uuid: "",
    runtime_auth_scopes: null,
    runtime_token: "",
    auth_uuid: "",
    log: "",
    cost: 0,
    subrequests_cost: 0,
    service: false,
    published_ports: null,
  };
}

/** arvados.InstanceType as encoding/json writes it: `Name` and `Scratch` are `json:"-"`. */
export function instanceTypeView(it: InstanceType): Record<string, unknown> {
  return {
    ProviderType: it.ProviderType,
    VCPUs: it.VCPUs,
    RAM: it.RAM,
    IncludedScratch: it.IncludedScratch,
    AddedScratch: it.AddedScratch,
    Price: it.Price,
    Preemptible: it.Preemptible,
    GPU: {
      Stack: it.GPU.Stack,
      DriverVersion: it.GPU.DriverVersion,
      HardwareTarget: it.GPU.HardwareTarget,
      DeviceCount: it.GPU.DeviceCount,
      VRAM: it.GPU.VRAM,
    },
  };
}

function resourcesView(r: InstanceResources | undefined): Record<string, number> {
  return {
    VCPUs: r?.VCPUs ?? 0,
    RAM: r?.RAM ?? 0,
    Scratch: r?.Scratch ?? 0,
    GPUs: r?.GPUs ?? 0,
    GPUVRAM: r?.GPUVRAM ?? 0,
  };
}

/** Whether the container waits for an instance: the only time upstream gives it a status (§3.3). */
export function isWaiting(entry: QueueEntry): boolean {
  return entry.container.state === "Queued" || entry.container.state === "Locked";
}

/**
 * One queue entry as upstream's `GET /arvados/v1/dispatch/container` returns it. The scheduling
 * status is the one the last launch pass stored, shown only while the container waits (a stored
 * status outlives its relevance: upstream computes it afresh each pass and leaves it empty for
 * a running container). Its types are the entry's names as the current config defines them.
 */
export function queueEntView(
  entry: QueueEntry,
  configured: Readonly<Record<string, InstanceType>>,
): Record<string, unknown> {
  return {
    container: containerView(entry.container),
    instance_resources: resourcesView(entry.instanceResources),
    instance_types:
      entry.instanceTypes === undefined
        ? null
        : resolveInstanceTypes(entry.instanceTypes, configured).map(instanceTypeView),
    first_seen_at: goTime(entry.firstSeenAt),
    scheduling_status: isWaiting(entry) ? (entry.schedulingStatus ?? "") : "",
  };
}

const stateRank: Readonly<Record<string, number>> = { Running: 0, Locked: 1, Queued: 2, Complete: 3, Cancelled: 3 };

/**
 * Entries in upstream's scheduling order (§3.3 sort): running first, then Locked, then by
 * priority (highest first), first seen, uuid. Upstream ranks "has a worker" where this uses the
 * Running state: the list needs no instance listing.
 */
export function schedulingOrder(a: QueueEntry, b: QueueEntry): number {
  const pa = a.container.priority;
  const pb = b.container.priority;
  return (
    (stateRank[a.container.state] ?? 9) - (stateRank[b.container.state] ?? 9) ||
    (pa > pb ? -1 : pa < pb ? 1 : 0) ||
    Date.parse(a.firstSeenAt) - Date.parse(b.firstSeenAt) ||
    (a.container.uuid < b.container.uuid ? -1 : a.container.uuid > b.container.uuid ? 1 : 0)
  );
}
