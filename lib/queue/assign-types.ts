import { apiStatus, type ContainerApi, type DecodedMounts } from "../model/container-api.js";
import { chooseInstanceTypes, type TypeChoiceConfig } from "../instance-types/choose.js";
import { instanceResourcesNeeded } from "../instance-types/resources.js";
import type { TypeChoiceTable } from "./ports.js";
import type { Queue } from "./queue.js";

/** What type choice works with: the container's mounts from Arvados, the table, the queue. */
export interface TypeChoiceDeps {
  api: Pick<ContainerApi, "getContainer" | "getContainerMounts">;
  store: TypeChoiceTable;
  queue: Pick<Queue, "lock" | "heldLock" | "setRuntimeError" | "cancel" | "forget">;
  config: TypeChoiceConfig;
}

/** What happened to one entry. */
export type AssignOutcome =
  | "assigned"
  | "already-assigned"
  | "gone"
  | "cancelled-unsatisfiable"
  | "stored-without-types"
  | "lock-refused";

/**
 * Chooses instance types for one new entry (upstream addEnt, §1.8, done here after the insert):
 * fetch the container's mounts, compute resources and ranked types, and store them once. A
 * container no type can run (or whose mounts cannot be decoded) is locked if Queued, given
 * upstream's runtime_status.error, cancelled, and dropped from the queue. Safe to repeat: an
 * entry that already has types, or is gone, is left alone.
 */
export async function assignInstanceTypes(uuid: string, deps: TypeChoiceDeps): Promise<AssignOutcome> {
  const entry = await deps.store.get(uuid);
  if (entry === undefined) return "gone";
  if (entry.instanceTypes !== undefined) return "already-assigned";

  let decoded: DecodedMounts;
  try {
    decoded = await deps.api.getContainerMounts(uuid);
  } catch (err) {
    // Deleted meanwhile: the next update removes the entry.
    if (apiStatus(err) === 404) return "gone";
    throw err;
  }
  const container = entry.container;
  if ("error" in decoded) {
    return cancelUnsatisfiable(
      deps,
      uuid,
      container.state,
      `error getting mounts from container record: ${decoded.error}`,
    );
  }
  const choice = chooseInstanceTypes(deps.config, { ...container, mounts: decoded.mounts });
  if (choice.ok) {
    const resources = instanceResourcesNeeded(deps.config, { ...container, mounts: decoded.mounts });
    return (await deps.store.setInstanceTypes(
      uuid,
      choice.types.map((it) => it.Name),
      resources,
      choice.decision,
    ))
      ? "assigned"
      : "already-assigned";
  }
  if (container.state === "Queued" || container.state === "Locked") {
    return cancelUnsatisfiable(deps, uuid, container.state, choice.error.message);
  }
  // §1.8 step 5: a Running (or finished) container is kept with no types, so it is never launched.
  const resources = instanceResourcesNeeded(deps.config, { ...container, mounts: decoded.mounts });
  await deps.store.setInstanceTypes(uuid, [], resources, choice.decision);
  return "stored-without-types";
}

/**
 * §1.8 cancelUnsatisfiableContainer: lock first if Queued (runtime_status needs the lock, §5.5),
 * set runtime_status.error, cancel; an error is ignored if the container ends up Cancelled
 * anyway. Then forget the entry.
 */
async function cancelUnsatisfiable(
  deps: Pick<TypeChoiceDeps, "api" | "queue">,
  uuid: string,
  state: string,
  message: string,
): Promise<AssignOutcome> {
  if (state === "Queued") {
    try {
      await deps.queue.lock(uuid);
    } catch (err) {
      // 422: no longer Queued, or priority 0. That includes our own lock whose reply was lost
      // (a retried record): go on if the lock is ours, else leave it; if it comes back, it is seen again.
      const status = apiStatus(err);
      if (status !== 422 && status !== 403) throw err;
      if ((await deps.queue.heldLock(uuid))?.state !== "Locked") return "lock-refused";
    }
  }
  try {
    await deps.queue.setRuntimeError(uuid, message);
    await deps.queue.cancel(uuid);
  } catch (err) {
    const current = await deps.api.getContainer(uuid, ["state"]);
    if (current.state !== "Cancelled") throw err;
  }
  await deps.queue.forget(uuid);
  return "cancelled-unsatisfiable";
}
