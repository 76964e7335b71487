import { ContainerState, isFinalState } from "../model/container.js";
import type { QueueEntry } from "../model/entry.js";
import { IdleBehavior, type InstanceView } from "../model/instance.js";
import type { InstanceType } from "../model/instance-type.js";
import { type WorkerResources, WorkerState, type WorkerView } from "../model/worker.js";
import { currentLaunch } from "./instances.js";

/** Everything a worker derivation reads. Plain data. */
export interface DeriveWorkersInput {
  /** Our instance set's instances, as listed now. */
  instances: readonly InstanceView[];
  entries: readonly QueueEntry[];
  /** The configured instance types by Name. */
  instanceTypes: Readonly<Record<string, InstanceType>>;
  /**
   * When cleanup first saw each idle worker idle (the `#worker` items), by instance id. The
   * entries cannot say it: a finished container's entry is forgotten (§1.4), and with it the
   * last sign the worker was busy.
   */
  idleSince?: Readonly<Record<string, string>>;
}

const zero: WorkerResources = { VCPUs: 0, RAM: 0, Scratch: 0, GPUs: 0, GPUVRAM: 0, sharedVCPUUsed: false };

/** A configured type's whole resources, as a worker with nothing on it has them. */
export function typeResources(it: InstanceType): WorkerResources {
  return {
    VCPUs: it.VCPUs,
    RAM: it.RAM,
    Scratch: it.Scratch,
    GPUs: it.GPU.DeviceCount,
    GPUVRAM: it.GPU.VRAM,
    sharedVCPUUsed: false,
  };
}

function maxIso(a: string, b: string | undefined): string {
  return b !== undefined && Date.parse(b) > Date.parse(a) ? b : a;
}

/**
 * The state of a worker, as upstream would have probed it (§3.1): EC2 not running yet, or
 * running with only containers from its user data none of which has started → booting (the
 * agent's first sign of life is crunch-run setting Running); a container Running → running;
 * containers assigned by tag to a worker that was up → running (reserved, upstream's
 * "allocated"); nothing assigned → idle; on its way out → shutdown.
 */
function workerState(instance: InstanceView, assigned: readonly QueueEntry[]): WorkerState {
  if (instance.state === "pending") return WorkerState.booting;
  if (instance.state !== "running") return WorkerState.shutdown;
  if (assigned.length === 0) return WorkerState.idle;
  if (assigned.some((e) => e.container.state === ContainerState.Running)) return WorkerState.running;
  const fromUserDataOnly = assigned.every((e) => currentLaunch(e)?.assignedBy !== "tag");
  return fromUserDataOnly ? WorkerState.booting : WorkerState.running;
}

/**
 * Upstream's instanceSort (§3.3): price ascending, then the configured type's VCPUs, RAM and
 * Scratch descending, then instance id ascending.
 */
export function compareWorkers(
  types: Readonly<Record<string, InstanceType>>,
): (a: WorkerView, b: WorkerView) => number {
  const typeOf = (w: WorkerView) => (Object.hasOwn(types, w.instanceType) ? types[w.instanceType] : undefined);
  return (a, b) => {
    const ta = typeOf(a);
    const tb = typeOf(b);
    return (
      a.price - b.price ||
      (tb?.VCPUs ?? 0) - (ta?.VCPUs ?? 0) ||
      (tb?.RAM ?? 0) - (ta?.RAM ?? 0) ||
      (tb?.Scratch ?? 0) - (ta?.Scratch ?? 0) ||
      (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0)
    );
  };
}

/**
 * Derives upstream's worker views (§3.3 "Preparation") from the listing and the entries: every
 * listed instance of ours, with the non-final containers whose current launch record names it
 * (a per-container instance: the one its ContainerUUID tag names), its inferred state, and the
 * configured type's resources minus InstanceResourcesNeeded of those containers; an assigned
 * container without known resources, or a type gone from the config, leaves no spare capacity
 * (upstream: "assume no spare capacity"). Sorted by upstream's instanceSort. Pure.
 */
export function deriveWorkers(input: DeriveWorkersInput): WorkerView[] {
  const byInstance = new Map<string, QueueEntry[]>();
  const latestAssignment = new Map<string, string>();
  for (const entry of input.entries) {
    const launch = currentLaunch(entry);
    if (launch === undefined) continue;
    latestAssignment.set(launch.instanceId, maxIso(launch.launchedAt, latestAssignment.get(launch.instanceId)));
    if (isFinalState(entry.container.state)) continue;
    const list = byInstance.get(launch.instanceId) ?? [];
    list.push(entry);
    byInstance.set(launch.instanceId, list);
  }
  const byUuid = new Map(input.entries.map((e) => [e.container.uuid, e]));

  const workers: WorkerView[] = [];
  for (const instance of input.instances) {
    const kind = instance.worker === true ? "pool" : "perContainer";
    let assigned = byInstance.get(instance.instanceId) ?? [];
    if (kind === "perContainer" && instance.containerUuid !== undefined) {
      const tagged = byUuid.get(instance.containerUuid);
      if (tagged !== undefined && !isFinalState(tagged.container.state) && !assigned.includes(tagged)) {
        assigned = [...assigned, tagged];
      }
    }
    const type = Object.hasOwn(input.instanceTypes, instance.instanceType)
      ? input.instanceTypes[instance.instanceType]
      : undefined;
    let remaining: WorkerResources = type === undefined ? zero : typeResources(type);
    for (const entry of assigned) {
      const need = entry.instanceResources;
      if (need === undefined) {
        remaining = zero;
        break;
      }
      remaining = {
        VCPUs: remaining.VCPUs - need.VCPUs,
        RAM: remaining.RAM - need.RAM,
        Scratch: remaining.Scratch - need.Scratch,
        GPUs: remaining.GPUs - need.GPUs,
        GPUVRAM: remaining.GPUVRAM - need.GPUVRAM,
        sharedVCPUUsed: remaining.sharedVCPUUsed || need.VCPUs === 0,
      };
    }
    const state = workerState(instance, assigned);
    let lastBusyAt = maxIso(instance.launchTime, latestAssignment.get(instance.instanceId));
    const idleSince = state === WorkerState.idle ? input.idleSince?.[instance.instanceId] : undefined;
    if (idleSince !== undefined) lastBusyAt = maxIso(lastBusyAt, idleSince);
    workers.push({
      instanceId: instance.instanceId,
      instanceType: instance.instanceType,
      price: type?.Price ?? 0,
      kind,
      state,
      idleBehavior: instance.idleBehavior ?? IdleBehavior.run,
      launchTime: instance.launchTime,
      containers: assigned.map((e) => e.container.uuid),
      runningCount: assigned.filter((e) => e.container.state === ContainerState.Running).length,
      remaining,
      lastBusyAt,
      ...(idleSince === undefined ? {} : { idleSince }),
    });
  }
  return workers.sort(compareWorkers(input.instanceTypes));
}
