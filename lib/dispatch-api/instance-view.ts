/**
 * Our instances as upstream's management API renders its workers: `worker.InstanceView`
 * (`lib/dispatchcloud/worker/pool.go`), one per instance of the instance set plus one per create
 * in flight. Upstream learns a worker's state by probing it; here the state is read off EC2's
 * and the container's, one container per instance:
 *
 * | EC2 state        | its container            | worker_state |
 * |------------------|--------------------------|--------------|
 * | pending          | any                      | booting      |
 * | running          | Running                  | running      |
 * | running          | Queued or Locked         | booting (crunch-run has not started it yet) |
 * | running          | finished, or none cached | idle (it powers off, or cleanup ends it) |
 * | running          | no container tag         | unknown (not launched here, never probed) |
 * | stopping/stopped | any                      | shutdown     |
 *
 * `last_busy` is now while the instance runs its container, else its launch time; a RunInstances
 * call whose outcome is unknown (an open launch intent) shows as upstream shows a create in
 * flight: no instance id, booting, `running_container_uuids` null.
 *
 * A pool worker (pool mode) is shown as the scheduler sees it (lib/scheduler/workers.ts): its
 * derived state, every non-final container assigned to it (upstream's running and starting
 * ones), the last one assigned, and the last time it was known busy.
 */
import type { ClusterConfig } from "../config/types.js";
import type { QueueEntry } from "../model/entry.js";
import { currentIntent, currentLaunch, InstanceIndex, intentInstanceKey, isLive } from "../scheduler/instances.js";
import { deriveWorkers } from "../scheduler/workers.js";
import { IdleBehavior, type InstanceView } from "../model/instance.js";
import { goTime, goZeroTime } from "./queue-view.js";

/** upstream worker.State values. */
export type WorkerState = "unknown" | "booting" | "idle" | "running" | "shutdown";

/** upstream worker.InstanceView, field for field. */
export interface InstanceViewJson {
  instance: string;
  address: string;
  price: number;
  arvados_instance_type: string;
  provider_instance_type: string;
  last_container_uuid: string;
  last_busy: string;
  running_container_uuids: string[] | null;
  worker_state: WorkerState;
  idle_behavior: IdleBehavior;
}

function workerState(inst: InstanceView, uuid: string | undefined, entry: QueueEntry | undefined): WorkerState {
  if (inst.state === "stopping" || inst.state === "stopped") return "shutdown";
  if (inst.state === "pending") return "booting";
  if (uuid === undefined) return "unknown";
  const state = entry?.container.state;
  if (state === "Running") return "running";
  if (state === "Queued" || state === "Locked") return "booting";
  return "idle";
}

/** The fields of a listed instance's view that come from the listing and the config, in upstream's order. */
function instanceFields(
  inst: InstanceView,
  config: ClusterConfig,
): Pick<InstanceViewJson, "instance" | "address" | "price" | "arvados_instance_type" | "provider_instance_type"> {
  const type = config.InstanceTypes[inst.instanceType];
  return {
    instance: inst.instanceId,
    address: inst.address ?? "",
    price: type?.Price ?? 0,
    arvados_instance_type: inst.instanceType,
    provider_instance_type: type?.ProviderType ?? inst.providerType ?? "",
  };
}

/**
 * The InstanceViews of `instances` (our instance set, as listed) and of the open launch intents
 * of `entries`, sorted by instance id, then type (upstream Pool.Instances). `now` is an ISO time.
 */
export function instanceViews(
  instances: readonly InstanceView[],
  entries: ReadonlyMap<string, QueueEntry>,
  config: ClusterConfig,
  now: string,
): InstanceViewJson[] {
  // The container each instance was last given (a pool worker's latest assignment).
  const launchedBy = new Map<string, string>();
  const launchedAt = new Map<string, string>();
  for (const entry of entries.values()) {
    const launch = currentLaunch(entry);
    if (launch === undefined) continue;
    const previous = launchedAt.get(launch.instanceId);
    if (previous !== undefined && Date.parse(previous) > Date.parse(launch.launchedAt)) continue;
    launchedBy.set(launch.instanceId, entry.container.uuid);
    launchedAt.set(launch.instanceId, launch.launchedAt);
  }
  const pool = new Map(
    deriveWorkers({
      instances: instances.filter((i) => i.worker === true),
      entries: [...entries.values()],
      instanceTypes: config.InstanceTypes,
    }).map((w) => [w.instanceId, w]),
  );
  const views: InstanceViewJson[] = [];
  for (const inst of instances) {
    if (!isLive(inst) && inst.state !== "stopping" && inst.state !== "stopped") continue;
    const worker = pool.get(inst.instanceId);
    if (worker !== undefined) {
      views.push({
        ...instanceFields(inst, config),
        last_container_uuid: launchedBy.get(inst.instanceId) ?? "",
        last_busy: goTime(worker.state === "running" ? now : worker.lastBusyAt),
        running_container_uuids: worker.containers,
        worker_state: inst.state === "stopping" || inst.state === "stopped" ? "shutdown" : worker.state,
        idle_behavior: worker.idleBehavior,
      });
      continue;
    }
    const uuid = inst.containerUuid || launchedBy.get(inst.instanceId);
    const entry = uuid === undefined ? undefined : entries.get(uuid);
    const state = workerState(inst, uuid, entry);
    views.push({
      ...instanceFields(inst, config),
      last_container_uuid: uuid ?? "",
      last_busy: state === "running" ? goTime(now) : goTime(inst.launchTime),
      running_container_uuids: state === "running" && uuid !== undefined ? [uuid] : [],
      worker_state: state,
      idle_behavior: inst.idleBehavior ?? IdleBehavior.run,
    });
  }
  const index = new InstanceIndex(instances);
  // One create in flight per instance the call may start: packed containers share one.
  const inFlight = new Set<string>();
  for (const entry of entries.values()) {
    const intent = currentIntent(entry);
    if (intent === undefined || index.liveFor(entry).length > 0) continue;
    const key = intentInstanceKey(entry.container.uuid, intent);
    if (inFlight.has(key)) continue;
    inFlight.add(key);
    const type = intent.definition ?? config.InstanceTypes[intent.instanceType];
    views.push({
      instance: "",
      address: "",
      price: type?.Price ?? 0,
      arvados_instance_type: intent.instanceType,
      provider_instance_type: type?.ProviderType ?? "",
      last_container_uuid: "",
      last_busy: goZeroTime,
      running_container_uuids: null,
      worker_state: "booting",
      idle_behavior: IdleBehavior.run,
    });
  }
  return views.sort(
    (a, b) =>
      (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0) ||
      (a.arvados_instance_type < b.arvados_instance_type
        ? -1
        : a.arvados_instance_type > b.arvados_instance_type
          ? 1
          : 0),
  );
}
