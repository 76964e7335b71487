import { Ec2SimError, type InstanceStateName, type SimInstance } from "./model.js";

/** How instances move through their states. Durations are sim-clock ms. */
export interface LifecycleSettings {
  /**
   * Time from launch to running. Absent (the default): an instance is pending in the
   * RunInstances reply and running from the next DescribeInstances or `tick()` on, which is
   * deterministic without any clock.
   */
  pendingMs?: number;
  /** Time from shutting-down to terminated; absent: the next DescribeInstances or `tick()`. */
  shuttingDownMs?: number;
  /** How long a terminated instance stays visible, as on EC2 (about an hour). */
  terminatedRetentionMs: number;
}

/** Why an instance changes state: EC2's stateReason codes and messages. */
export const stateReasons = {
  userTerminate: {
    code: "Client.UserInitiatedShutdown",
    message: "Client.UserInitiatedShutdown: User initiated shutdown",
  },
  instanceShutdown: {
    code: "Client.InstanceInitiatedShutdown",
    message: "Client.InstanceInitiatedShutdown: Instance initiated shutdown",
  },
  spotInterruption: {
    code: "Server.SpotInstanceTermination",
    message: "Server.SpotInstanceTermination: Spot instance termination",
  },
  died: { code: "Server.InternalError", message: "Server.InternalError: Internal error" },
} as const;

/** Instances EC2 still counts against quotas and returns to a live listing. */
export function isLive(i: SimInstance): boolean {
  return i.state === "pending" || i.state === "running";
}

/** One state an instance was in, from `at` (sim-clock ms) on. */
interface PastState {
  state: InstanceStateName;
  stateReason: SimInstance["stateReason"];
  at: number;
}

/** InstanceLifecycle owns the instances and applies every state change. */
export class InstanceLifecycle {
  private readonly byId = new Map<string, SimInstance>();
  /** Each instance's states, oldest first, for a listing that lags behind (`listed`). */
  private readonly history = new Map<string, PastState[]>();

  constructor(
    private readonly settings: LifecycleSettings,
    private readonly clock: () => number,
  ) {}

  add(i: SimInstance): void {
    this.byId.set(i.instanceId, i);
    this.history.set(i.instanceId, [{ state: i.state, stateReason: i.stateReason, at: i.stateChangedAt }]);
  }

  get(id: string): SimInstance | undefined {
    return this.byId.get(id);
  }

  /** The instance, or EC2's InvalidInstanceID.NotFound. */
  require(id: string): SimInstance {
    const i = this.byId.get(id);
    if (!i) throw new Ec2SimError("InvalidInstanceID.NotFound", `The instance ID '${id}' does not exist`);
    return i;
  }

  /** All instances still visible, in launch order. */
  all(): SimInstance[] {
    return [...this.byId.values()].sort((a, b) => a.seq - b.seq);
  }

  /**
   * The time an instance is billed for, as EC2 counts it: from its first `running` to its first
   * `shutting-down` or `terminated` (or now, if it still runs). Zero if it never ran.
   */
  billedMs(id: string): number {
    const past = this.history.get(id) ?? [];
    const ran = past.find((p) => p.state === "running");
    if (ran === undefined) return 0;
    const ended = past.find((p) => p.at >= ran.at && (p.state === "shutting-down" || p.state === "terminated"));
    return (ended?.at ?? this.clock()) - ran.at;
  }

  /**
   * What DescribeInstances shows when EC2's listing lags `lagMs` behind (it is eventually
   * consistent): the instances launched at least that long ago, each in the state it was in then.
   * Everything else (RunInstances idempotency, TerminateInstances, CreateTags, the controls) sees
   * the instances as they are. Tags do not lag.
   */
  listed(lagMs: number): SimInstance[] {
    const all = this.all();
    if (lagMs <= 0) return all;
    const asOf = this.clock() - lagMs;
    const out: SimInstance[] = [];
    for (const i of all) {
      if (i.launchTime > asOf) continue;
      if (i.stateChangedAt <= asOf) {
        out.push(i);
        continue;
      }
      const past = (this.history.get(i.instanceId) ?? []).filter((p) => p.at <= asOf).at(-1);
      if (past === undefined) continue;
      const { stateReason: _current, ...rest } = i;
      out.push({
        ...rest,
        state: past.state,
        stateChangedAt: past.at,
        ...(past.stateReason === undefined ? {} : { stateReason: past.stateReason }),
      });
    }
    return out;
  }

  clear(): void {
    this.byId.clear();
    this.history.clear();
  }

  /**
   * Apply the transitions that are due: on any request those whose configured duration has
   * passed; on a DescribeInstances also those without a configured duration; on `tick` all.
   * Terminated instances past their retention are dropped.
   */
  settle(trigger: "request" | "describe" | "tick"): void {
    const now = this.clock();
    for (const i of this.all()) {
      const since = now - i.stateChangedAt;
      // A transition with a duration happened when it fell due, however late it is applied.
      const dueAt = (durationMs: number | undefined) =>
        durationMs === undefined ? now : Math.min(now, i.stateChangedAt + durationMs);
      const { pendingMs, shuttingDownMs } = this.settings;
      if (i.state === "pending" && this.due(pendingMs, since, trigger)) this.move(i, "running", dueAt(pendingMs));
      else if (i.state === "shutting-down" && this.due(shuttingDownMs, since, trigger)) {
        this.move(i, "terminated", dueAt(shuttingDownMs));
      } else if (i.state === "stopping" && this.due(shuttingDownMs, since, trigger)) {
        this.move(i, "stopped", dueAt(shuttingDownMs));
      }
      if (i.state === "terminated" && now - i.stateChangedAt >= this.settings.terminatedRetentionMs) {
        this.byId.delete(i.instanceId);
        this.history.delete(i.instanceId);
      }
    }
  }

  private due(durationMs: number | undefined, since: number, trigger: "request" | "describe" | "tick"): boolean {
    if (trigger === "tick") return true;
    return durationMs === undefined ? trigger === "describe" : since >= durationMs;
  }

  /** Begin terminating (TerminateInstances, a spot interruption): returns the previous state. */
  terminate(i: SimInstance, reason: { code: string; message: string }): InstanceStateName {
    const previous = i.state;
    if (previous === "shutting-down" || previous === "terminated") return previous;
    i.stateReason = { ...reason };
    this.move(i, this.settings.shuttingDownMs === 0 ? "terminated" : "shutting-down");
    return previous;
  }

  /** The instance vanishes at once (hardware failure): terminated without shutting down. */
  kill(i: SimInstance): void {
    if (i.state === "terminated") return;
    i.stateReason = { ...stateReasons.died };
    this.move(i, "terminated");
  }

  /** The instance powers itself off: terminate or stop, per InstanceInitiatedShutdownBehavior. */
  shutdownFromInside(i: SimInstance): void {
    if (!isLive(i)) return;
    if (i.shutdownBehavior === "terminate") {
      this.terminate(i, stateReasons.instanceShutdown);
      return;
    }
    i.stateReason = { ...stateReasons.instanceShutdown };
    this.move(i, "stopping");
  }

  private move(i: SimInstance, state: InstanceStateName, at = this.clock()): void {
    i.state = state;
    i.stateChangedAt = at;
    this.history.get(i.instanceId)?.push({ state, stateReason: i.stateReason, at: i.stateChangedAt });
  }
}
