/**
 * Container records as the Arvados API renders them (§5.2), with the upstream JSON names so
 * the code reads against the reference. Only the fields a dispatcher uses are modelled.
 */

/** Container states (§5.3). */
export const ContainerState = {
  Queued: "Queued",
  Locked: "Locked",
  Running: "Running",
  Complete: "Complete",
  Cancelled: "Cancelled",
} as const;
export type ContainerState = (typeof ContainerState)[keyof typeof ContainerState];

export const containerStates: readonly ContainerState[] = Object.values(ContainerState);

/** Allowed state changes (§5.3 `Container::State_transitions`), as the simulator enforces them. */
export const stateTransitions: Record<ContainerState, readonly ContainerState[]> = {
  Queued: ["Locked", "Cancelled"],
  Locked: ["Queued", "Running", "Cancelled"],
  Running: ["Complete", "Cancelled"],
  Complete: ["Cancelled"],
  Cancelled: [],
};

/** A final state is one a container never leaves for work again (`final?`). */
export function isFinalState(state: ContainerState): boolean {
  return state === ContainerState.Complete || state === ContainerState.Cancelled;
}

export function isContainerState(value: unknown): value is ContainerState {
  return typeof value === "string" && (containerStates as readonly string[]).includes(value);
}

/** `runtime_constraints.gpu` (§5.2). `vram` is bytes per GPU. */
export interface GPURuntimeConstraints {
  stack: string;
  driver_version: string;
  hardware_target: string[];
  device_count: number;
  vram: number;
}

/** `runtime_constraints` (§5.2), after the server's `fill_container_defaults`. */
export interface RuntimeConstraints {
  API?: boolean;
  ram: number;
  vcpus: number;
  keep_cache_ram: number;
  keep_cache_disk: number;
  gpu: GPURuntimeConstraints;
}

/** `scheduling_parameters` (§5.2), after the server's defaults. */
export interface SchedulingParameters {
  partitions: string[];
  preemptible: boolean;
  max_run_time: number;
  supervisor: boolean;
}

/** One entry of `mounts` (§5.2). Only `kind` and `capacity` matter to a dispatcher (§2.3). */
export interface Mount {
  kind: string;
  capacity?: number;
  [key: string]: unknown;
}

/** The largest priority a container can have: the int64 column's maximum (§5.6). */
export const maxPriority = (1n << 63n) - 1n;

/** Sort order for priorities, highest first, exact (a bigint difference is no sort result). */
export function comparePriorityDesc(a: bigint, b: bigint): number {
  return a > b ? -1 : a < b ? 1 : 0;
}

/** A full container record as returned by `GET /arvados/v1/containers/{uuid}`. */
export interface Container {
  kind?: string;
  uuid: string;
  owner_uuid?: string;
  state: ContainerState;
  /** int64 (request priority × 2^50 − created_at ms, §5.6): exact only as a bigint. */
  priority: bigint;
  runtime_constraints: RuntimeConstraints;
  container_image: string;
  scheduling_parameters: SchedulingParameters;
  created_at: string;
  modified_at?: string;
  locked_by_uuid: string | null;
  auth_uuid?: string | null;
  lock_count?: number;
  mounts?: Record<string, Mount>;
  runtime_status?: Record<string, unknown>;
  command?: string[];
  started_at?: string | null;
  finished_at?: string | null;
  exit_code?: number | null;
  [key: string]: unknown;
}

/**
 * The part of a container the queue cache keeps (upstream QueueEnt.Container): the polled
 * attributes plus `locked_by_uuid`, which lock/unlock/cancel responses carry.
 */
export interface QueuedContainer {
  uuid: string;
  state: ContainerState;
  /** int64, exact (§5.6). */
  priority: bigint;
  runtime_constraints: RuntimeConstraints;
  container_image: string;
  scheduling_parameters: SchedulingParameters;
  created_at: string;
  locked_by_uuid?: string | null;
  /**
   * How many times the container was locked, as of the last poll. Not in upstream's select:
   * every lock increments it, so a poll sees an unlock and a re-lock that happened between two
   * polls even when state, priority and locked_by_uuid came back to what the queue index holds
   * (an entry written by the unlock in between would otherwise never be corrected).
   */
  lock_count?: number;
}

/** What lock/unlock/cancel return that the cache applies (§1.9): state, priority, locked_by_uuid. */
export interface ContainerStateChange {
  uuid: string;
  state: ContainerState;
  priority: bigint;
  locked_by_uuid: string | null;
}

/** A lock this dispatcher's token holds on a container, as Arvados reports it now. */
export interface HeldLock {
  state: "Locked" | "Running";
  /** `lock_count`: with the uuid it names this lock (the attempt in a RunInstances ClientToken). */
  lockCount: number | undefined;
}
