import type { CleanupDeps } from "../../lib/cleanup/ports.js";
import type { ClusterConfig } from "../../lib/config/types.js";
import type { LaunchDeps } from "../../lib/launch/ports.js";
import type { ContainerStateChange, HeldLock } from "../../lib/model/container.js";
import { type DispatchState, initialDispatchState } from "../../lib/model/dispatch-state.js";
import type { LaunchIntent, LaunchRecord, QueueEntry } from "../../lib/model/entry.js";
import type { InstanceView } from "../../lib/model/instance.js";
import type {
  LaunchCall,
  LaunchedInstance,
  LaunchedWorkers,
  LaunchRequest,
  WorkerCloud,
  WorkerLaunchRequest,
} from "../../lib/model/instance-cloud.js";
import type { PoolSettings } from "../../lib/scheduler/plan-pool.js";
import type { SharedValue } from "../../lib/model/shared-value.js";

/**
 * Recording fakes of the launch and cleanup ports (lib/launch/ports.ts, lib/cleanup/ports.ts),
 * for testing one pass at a time with plain data, as upstream tests one runQueue() iteration
 * against its own fakes (lib/dispatchcloud/scheduler/run_queue_test.go). Every call lands in
 * one shared log, in order, so a test can state what happened before what.
 */
export class PortFakes {
  /** Every port call, in order: "lock uuid", "intent uuid type subnet", "run uuid type", ... */
  readonly log: string[] = [];
  readonly entries = new Map<string, QueueEntry>();
  instances: InstanceView[] = [];
  /** lock_count per container as Arvados would report it; a lock adds one. */
  readonly lockCounts = new Map<string, number>();
  /** Containers Arvados says our token does not hold (another dispatcher's, or gone: 404). */
  readonly notOurs = new Set<string>();
  /** What the next RunInstances calls answer, in order: an error to throw, or undefined to start an instance. */
  readonly cloudAnswers: (Error | undefined)[] = [];
  /** Every launch request the cloud received. */
  readonly launches: LaunchRequest[] = [];
  readonly intents = new Map<string, LaunchIntent>();
  readonly launchRecords = new Map<string, LaunchRecord>();
  readonly statuses = new Map<string, string>();
  threshold: Date | undefined = new Date(0);
  private nextInstance = 1;
  readonly state: FakeShared<DispatchState>;

  constructor(
    readonly config: ClusterConfig,
    readonly now: () => number,
  ) {
    this.state = new FakeShared(initialDispatchState(64));
  }

  add(...entries: QueueEntry[]): void {
    for (const e of entries) this.entries.set(e.container.uuid, e);
  }

  private change(uuid: string, state: QueueEntry["container"]["state"]): ContainerStateChange {
    const entry = this.entries.get(uuid);
    if (entry !== undefined) this.entries.set(uuid, { ...entry, container: { ...entry.container, state } });
    return { uuid, state, priority: entry?.container.priority ?? 0n, locked_by_uuid: null };
  }

  launchDeps(): LaunchDeps {
    return {
      queue: {
        entries: async () => ({ entries: new Map(this.entries) }),
        lock: async (uuid) => this.lock(uuid),
        unlock: async (uuid) => this.unlock(uuid),
        heldLock: async (uuid) => this.heldLock(uuid),
        lastApi503: () => undefined,
      },
      store: {
        acquireLaunchPassLease: async () => true,
        releaseLaunchPassLease: async () => true,
        claimEntry: async () => true,
        releaseEntry: async () => true,
        writeLaunchIntent: async (uuid, _owner, intent) => {
          this.log.push(`intent ${uuid} ${intent.instanceType} ${intent.subnetId ?? "-"}`);
          this.intents.set(uuid, intent);
        },
        clearLaunchIntent: async (uuid) => this.intents.delete(uuid),
        recordLaunch: async (uuid, launch) => {
          this.log.push(`record ${uuid} ${launch.instanceId}`);
          this.launchRecords.set(uuid, launch);
          this.intents.delete(uuid);
        },
        setSchedulingStatus: async (uuid, status) => {
          this.statuses.set(uuid, status);
          return true;
        },
      },
      cloud: { launch: (request) => this.launch(request), list: async () => this.instances },
      state: this.state,
      tokens: { takeWithin: async () => true },
      config: this.config,
      owner: "test-pass",
      now: this.now,
    };
  }

  cleanupDeps(): CleanupDeps {
    return {
      queue: {
        entries: async () => ({ entries: new Map(this.entries), threshold: this.threshold }),
        lock: async (uuid) => this.lock(uuid),
        unlock: async (uuid) => this.unlock(uuid),
        heldLock: async (uuid) => this.heldLock(uuid),
        cancel: async (uuid) => {
          this.log.push(`cancel ${uuid}`);
          return this.change(uuid, "Cancelled");
        },
        forget: async (uuid) => {
          this.log.push(`forget ${uuid}`);
          return this.entries.delete(uuid);
        },
        setRuntimeError: async (uuid) => {
          this.log.push(`runtime error ${uuid}`);
        },
      },
      store: {
        get: async (uuid) => this.entries.get(uuid),
        setInstanceTypes: async (uuid, names) => {
          this.log.push(`types ${uuid} ${names.join(",")}`);
          return true;
        },
        clearLaunch: async (uuid, instanceId) => {
          this.log.push(`clear launch ${uuid} ${instanceId}`);
          return this.launchRecords.delete(uuid);
        },
      },
      api: {
        getContainer: async (uuid) => {
          const entry = this.entries.get(uuid);
          return entry === undefined ? { uuid } : { ...entry.container };
        },
        getContainerMounts: async () => ({ mounts: {} }),
      },
      channel: { kill: async (instanceId, orders) => this.kill(instanceId, orders) },
      cloud: {
        list: async () => this.instances,
        terminate: async (ids) => {
          this.log.push(`terminate ${ids.join(",")}`);
          this.instances = this.instances.map((i) =>
            ids.includes(i.instanceId) ? { ...i, state: "shutting-down" } : i,
          );
        },
      },
      state: this.state,
      config: this.config,
      now: this.now,
    };
  }

  /** What the next batched RunInstances calls answer: an error, a number of instances (a partial answer), or undefined for all. */
  readonly workerAnswers: (Error | number | undefined)[] = [];
  /** Every batched launch request. */
  readonly workerLaunches: WorkerLaunchRequest[] = [];

  /** Launch deps in pool mode: batched creates ("create type uuid,uuid") and order tags ("assign instance uuid:attempt"). */
  poolLaunchDeps(settings: Partial<PoolSettings> = {}): LaunchDeps {
    const cloud: WorkerCloud = {
      launchWorkers: (request) => this.launchWorkers(request),
      assign: async (instanceId, orders) => {
        this.log.push(`assign ${instanceId} ${orders.map((o) => `${o.containerUuid}:${o.attempt}`).join(",")}`);
      },
      kill: async (instanceId, orders) => this.kill(instanceId, orders),
    };
    return {
      ...this.launchDeps(),
      pool: {
        cloud,
        settings: { maxRunningContainersPerInstance: 0, timeoutIdleMs: 60_000, assignMarginMs: 20_000, ...settings },
      },
    };
  }

  private async kill(instanceId: string, orders: readonly { containerUuid: string; attempt: number }[]): Promise<void> {
    this.log.push(`kill ${instanceId} ${orders.map((o) => `${o.containerUuid}:${o.attempt}`).join(",")}`);
  }

  private async launchWorkers(request: WorkerLaunchRequest): Promise<LaunchedWorkers> {
    this.workerLaunches.push(request);
    const call: LaunchCall = request.repeat ?? {
      subnetId: "subnet-a",
      clientToken: `batch-${request.batch.map((ms) => ms.map((b) => b.containerUuid).join("+")).join(",")}`,
    };
    if (request.repeat === undefined) await request.beforeCall?.(call, undefined);
    this.log.push(
      `${request.repeat === undefined ? "create" : "repeat"} ${request.instanceType.Name} ${request.batch.map((ms) => ms.map((b) => b.containerUuid).join("+")).join(",")}`,
    );
    const answer = this.workerAnswers.shift();
    request.onAttempt?.({ subnetId: call.subnetId ?? "", success: !(answer instanceof Error) });
    if (answer instanceof Error) throw answer;
    const count = answer ?? request.batch.length;
    const instances = request.batch.slice(0, count).map((_, launchIndex) => ({
      instanceId: `i-${String(this.nextInstance++).padStart(17, "0")}`,
      launchIndex,
    }));
    return {
      instances,
      ...(call.subnetId === undefined ? {} : { subnetId: call.subnetId }),
      clientToken: call.clientToken,
      nextSubnetIndex: 0,
    };
  }

  private lock(uuid: string): ContainerStateChange {
    this.log.push(`lock ${uuid}`);
    this.lockCounts.set(uuid, (this.lockCounts.get(uuid) ?? 0) + 1);
    return this.change(uuid, "Locked");
  }

  private unlock(uuid: string): ContainerStateChange {
    this.log.push(`unlock ${uuid}`);
    return this.change(uuid, "Queued");
  }

  private heldLock(uuid: string): HeldLock | undefined {
    const state = this.entries.get(uuid)?.container.state;
    if (this.notOurs.has(uuid) || (state !== "Locked" && state !== "Running")) return undefined;
    return { state, lockCount: this.lockCounts.get(uuid) ?? 1 };
  }

  /** As lib/cloud does: the intent is written before each call (a repeat sends its own token again). */
  private async launch(request: LaunchRequest): Promise<LaunchedInstance> {
    this.launches.push(request);
    const call: LaunchCall = request.repeat ?? {
      subnetId: "subnet-a",
      clientToken: `token-${request.containerUuid}-${request.lockCount}`,
    };
    if (request.repeat === undefined) await request.beforeCall?.(call, undefined);
    this.log.push(
      `${request.repeat === undefined ? "run" : "repeat"} ${request.containerUuid} ${request.instanceType.Name}`,
    );
    const answer = this.cloudAnswers.shift();
    request.onAttempt?.({ subnetId: call.subnetId ?? "", success: answer === undefined });
    if (answer !== undefined) throw answer;
    const instanceId = `i-${String(this.nextInstance++).padStart(17, "0")}`;
    return { instanceId, ...(call.subnetId === undefined ? {} : { subnetId: call.subnetId }), nextSubnetIndex: 0 };
  }
}

/** A SharedValue held in memory: `modify` applies its change at once. */
export class FakeShared<T> implements SharedValue<T> {
  private version = 0;
  constructor(public value: T) {}

  async read(): Promise<{ value: T; version: number }> {
    return { value: this.value, version: this.version };
  }

  async modify<R>(change: (current: T) => { next: T; result: R }): Promise<R> {
    const { next, result } = change(this.value);
    this.value = next;
    this.version++;
    return result;
  }
}
