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
  userTerminate: { code: "Client.UserInitiatedShutdown", message: "Client.UserInitiatedShutdown: User initiated shutdown" },
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

/** InstanceLifecycle owns the instances and applies every state change. */
export class InstanceLifecycle {
  private readonly byId = new Map<string, SimInstance>();

  constructor(
    private readonly settings: LifecycleSettings,
    private readonly clock: () => number,
  ) {}

  add(i: SimInstance): void {
    this.byId.set(i.instanceId, i);
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

  clear(): void {
    this.byId.clear();
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
      if (i.state === "pending" && this.due(this.settings.pendingMs, since, trigger)) this.move(i, "running");
      else if (i.state === "shutting-down" && this.due(this.settings.shuttingDownMs, since, trigger)) {
        this.move(i, "terminated");
      } else if (i.state === "stopping" && this.due(this.settings.shuttingDownMs, since, trigger)) {
        this.move(i, "stopped");
      }
      if (i.state === "terminated" && now - i.stateChangedAt >= this.settings.terminatedRetentionMs) {
        this.byId.delete(i.instanceId);
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

  private move(i: SimInstance, state: InstanceStateName): void {
    i.state = state;
    i.stateChangedAt = this.clock();
  }
}
