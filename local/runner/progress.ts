/**
 * Progress of a local run, sampled from the outside as an operator would see it: container
 * states from the Arvados simulator, entries in the queue table, each waiting container's
 * scheduling status from the dispatch API (what Workbench would show), instances and
 * RunInstances errors from the EC2 simulator, and the plumbing's counters. Feeds the live
 * display, the end condition and the summary.
 */
import { isContainerState, isFinalState } from "../../lib/model/container.js";
import type { QueueEntry } from "../../lib/model/entry.js";
import type { QueueStore } from "../../lib/store/queue-store.js";
import type { ArvadosSimulator } from "../arvados-sim/simulator.js";
import type { Ec2Simulator, SimInstance } from "../ec2-sim/index.js";
import type { WorkloadPlayer } from "./workload-player.js";

/** One container as the display shows it. */
export interface ContainerProgress {
  uuid: string;
  label: string;
  state: string;
  /** The container priority: int64, exact (§5.6), 0 when unknown. */
  priority: bigint;
  /** The type it was (or will be) launched on: the launch record, else the first chosen type. */
  instanceType?: string;
  /** Why it waits, or what happened to it. */
  note: string;
  /** The dispatch API's scheduling_status for it (upstream's words), while it is Queued or Locked. */
  schedulingStatus?: string;
  /** runtime_status.error, for a Cancelled container. */
  runtimeError?: string;
  /** Instances RunInstances created for it, oldest first. */
  instanceIds: string[];
}

/** One sample of the whole run. */
export interface ProgressSnapshot {
  elapsedMs: number;
  submitted: number;
  total: number;
  containersByState: Record<string, number>;
  /** Container entries in the queue table. */
  queueEntries: number;
  /** Queue entries of containers that are Complete or Cancelled in Arvados (cleanup has not forgotten them yet). */
  finishedEntries: number;
  instancesByState: Record<string, number>;
  /** Instances RunInstances created. */
  launches: number;
  /** RunInstances errors by EC2 error code. */
  runInstancesErrors: Record<string, number>;
  containers: ContainerProgress[];
}

/** Where progress is read from; the simulators are absent when real services are used. */
export interface ProgressSources {
  store: QueueStore;
  arvados?: ArvadosSimulator;
  ec2?: Ec2Simulator;
  workload?: WorkloadPlayer;
  /** The dispatch API and its token: the statuses shown are what it answers. */
  dispatchApi?: { url: string; managementToken: string };
  tagKeyPrefix: string;
  startedAt: number;
}

/** One entry of the dispatch API's container list, as far as the display reads it. */
interface ApiEntry {
  container?: { uuid?: string; state?: string };
  scheduling_status?: string;
}

/** A snapshot of nothing, for a run stopped before its first sample. */
export function emptySnapshot(): ProgressSnapshot {
  return {
    elapsedMs: 0,
    submitted: 0,
    total: 0,
    containersByState: {},
    queueEntries: 0,
    finishedEntries: 0,
    instancesByState: {},
    launches: 0,
    runInstancesErrors: {},
    containers: [],
  };
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

const waitingFirst: Record<string, number> = { Queued: 0, Locked: 1, Running: 2, Cancelled: 3, Complete: 4 };

/** Higher priority first, compared exactly: int64 priorities one apart are one double. */
function priorityDescending(a: bigint, b: bigint): number {
  return a > b ? -1 : a < b ? 1 : 0;
}

/** ProgressTracker samples the run; it remembers each container's type after its entry is forgotten. */
export class ProgressTracker {
  private readonly knownType = new Map<string, string>();
  private readonly errors: Record<string, number> = {};
  private lastRequestSeq = 0;

  constructor(private readonly sources: ProgressSources) {}

  /** Reads every source once. */
  async sample(now = Date.now()): Promise<ProgressSnapshot> {
    const [{ entries }, statuses] = await Promise.all([this.sources.store.scan(1), this.apiStatuses()]);
    const instances = this.sources.ec2?.instances() ?? [];
    this.countRunInstancesErrors();
    const tagKey = `${this.sources.tagKeyPrefix}ContainerUUID`;
    const byContainer = new Map<string, SimInstance[]>();
    const instancesByState: Record<string, number> = {};
    for (const i of instances) {
      bump(instancesByState, i.state);
      const uuid = i.tags[tagKey];
      if (uuid !== undefined) byContainer.set(uuid, [...(byContainer.get(uuid) ?? []), i]);
    }

    const containers = this.containers(entries, byContainer, statuses);
    const containersByState: Record<string, number> = {};
    for (const c of containers) bump(containersByState, c.state);
    const finishedEntries = containers.filter(
      (c) => isContainerState(c.state) && isFinalState(c.state) && entries.has(c.uuid),
    ).length;
    containers.sort(
      (a, b) =>
        (waitingFirst[a.state] ?? 9) - (waitingFirst[b.state] ?? 9) ||
        priorityDescending(a.priority, b.priority) ||
        a.label.localeCompare(b.label),
    );
    const workload = this.sources.workload;
    return {
      elapsedMs: now - this.sources.startedAt,
      submitted: workload?.submitted.length ?? containers.length,
      total: workload?.total ?? containers.length,
      containersByState,
      queueEntries: entries.size,
      finishedEntries,
      instancesByState,
      launches: [...byContainer.values()].reduce((n, list) => n + list.length, 0),
      runInstancesErrors: { ...this.errors },
      containers,
    };
  }

  /**
   * uuid → scheduling_status, as GET /arvados/v1/dispatch/containers answers (the controller asks
   * per container; one list serves the whole display). Undefined when the API does not answer:
   * the display then shows the statuses stored in the table, the same ones.
   */
  private async apiStatuses(): Promise<Map<string, string> | undefined> {
    const api = this.sources.dispatchApi;
    if (api === undefined) return undefined;
    try {
      const response = await fetch(new URL("arvados/v1/dispatch/containers", api.url), {
        headers: { authorization: `Bearer ${api.managementToken}` },
        signal: AbortSignal.timeout(5_000),
      });
      if (!response.ok) return undefined;
      const { items } = (await response.json()) as { items?: ApiEntry[] };
      return new Map(
        (items ?? []).flatMap((e) =>
          e.container?.uuid === undefined ? [] : [[e.container.uuid, e.scheduling_status ?? ""]],
        ),
      );
    } catch {
      return undefined;
    }
  }

  private containers(
    entries: Map<string, QueueEntry>,
    byContainer: Map<string, SimInstance[]>,
    statuses: Map<string, string> | undefined,
  ): ContainerProgress[] {
    const { arvados, workload } = this.sources;
    // With the simulator, the workload's containers; with a real cluster, what the queue holds.
    const uuids = workload !== undefined ? workload.submitted.map((s) => s.uuid) : [...entries.keys()];
    return uuids.map((uuid) => {
      const entry = entries.get(uuid);
      const record = arvados?.getContainer(uuid);
      const state = record?.state ?? entry?.container.state ?? "unknown";
      const launched = byContainer.get(uuid) ?? [];
      const type =
        entry?.launch?.instanceType ??
        entry?.typeDecision?.chosen[0] ??
        entry?.instanceTypes?.[0] ??
        launched.at(-1)?.tags[`${this.sources.tagKeyPrefix}InstanceType`];
      if (type !== undefined) this.knownType.set(uuid, type);
      const runtimeError = record?.runtime_status?.error;
      const waiting = state === "Queued" || state === "Locked";
      const status = waiting ? statuses?.get(uuid) || entry?.schedulingStatus : undefined;
      const progress: ContainerProgress = {
        uuid,
        label: workload?.get(uuid)?.label ?? uuid,
        state,
        priority: record?.priority ?? entry?.container.priority ?? 0n,
        note: noteFor(state, entry, launched, typeof runtimeError === "string" ? runtimeError : undefined, status),
        instanceIds: launched.map((i) => i.instanceId),
      };
      if (status !== undefined && status !== "") progress.schedulingStatus = status;
      const known = this.knownType.get(uuid);
      if (known !== undefined) progress.instanceType = known;
      if (typeof runtimeError === "string") progress.runtimeError = runtimeError;
      return progress;
    });
  }

  /** Counts RunInstances errors from the simulator's request log, reading only what is new. */
  private countRunInstancesErrors(): void {
    const ec2 = this.sources.ec2;
    if (ec2 === undefined) return;
    for (const request of ec2.requestsSince(this.lastRequestSeq)) {
      this.lastRequestSeq = request.seq;
      if (request.action === "RunInstances" && request.error !== undefined) bump(this.errors, request.error);
    }
  }
}

/** Why a container waits (its scheduling status, as Workbench would show it), or what became of it. */
function noteFor(
  state: string,
  entry: QueueEntry | undefined,
  launched: readonly SimInstance[],
  runtimeError: string | undefined,
  status: string | undefined,
): string {
  const last = launched.at(-1);
  if (state === "Complete") return "complete";
  if (state === "Cancelled") return `cancelled: ${runtimeError ?? "(no runtime_status.error)"}`;
  if (state === "Running") return last === undefined ? "running" : `running on ${last.instanceId}`;
  if (entry === undefined) return "not in the queue table yet";
  if (status !== undefined && status !== "") {
    return entry.launch === undefined
      ? status
      : `${status} (${entry.launch.instanceId} ${last?.state ?? "not listed"})`;
  }
  if (entry.instanceTypes === undefined) return "no types yet";
  if (entry.launch !== undefined) return `launched on ${entry.launch.instanceId} (${last?.state ?? "not listed"})`;
  return state === "Locked" ? "locked, waiting for a launch pass" : "waiting for a launch pass";
}
