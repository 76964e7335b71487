/**
 * EC2 reclaiming spot instances, played on the EC2 simulator: once a container the workload marks
 * (`spotInterruptionAfterSeconds`) has been Running that long on a spot instance, EventBridge
 * gets EC2's "Spot Instance Interruption Warning" for the instance, and after the warning period
 * (two minutes in AWS) EC2 terminates the instance if nobody has. One interruption per container,
 * so its next instance, if it gets one, runs undisturbed.
 */
import type { ArvadosSimulator } from "../arvados-sim/simulator.js";
import type { Ec2Simulator } from "../ec2-sim/simulator.js";
import type { Json } from "../event-filter.js";
import { eventBridgeEvent, localAccount } from "./eventbridge-event.js";
import { InstanceWatcher } from "./instance-watcher.js";

export interface SpotReclaimerOptions {
  ec2: Ec2Simulator;
  arvados: ArvadosSimulator;
  tagKeyPrefix: string;
  region: string;
  /** How long the container must have been Running before its instance is reclaimed; undefined: never. */
  interruptAfterMs: (uuid: string) => number | undefined;
  /** From the warning to EC2 terminating the instance itself. */
  warningMs: number;
  /** Where the warning goes (the runner's EventBridge rules). */
  publish: (event: Json) => void;
  /**
   * The containers a pool worker runs (crunch-run's list on it). Without it only one-container
   * instances are watched, by their ContainerUUID tag.
   */
  containersOn?: (instanceId: string) => readonly string[];
  pollMs?: number;
}

/** What the reclaimer did, for the summary. */
export interface SpotReclaimerStats {
  warned: number;
  /** Instances EC2 terminated itself at the end of the warning, nobody having done it first. */
  reclaimed: number;
}

/** The event EventBridge delivers for a spot interruption warning. */
export function spotInterruptionWarning(instanceId: string, region: string, now = new Date()): Json {
  const instance = `arn:aws:ec2:${region}:${localAccount}:instance/${instanceId}`;
  const detail = { "instance-id": instanceId, "instance-action": "terminate" };
  return eventBridgeEvent("EC2 Spot Instance Interruption Warning", "aws.ec2", [instance], detail, region, now);
}

export class SpotReclaimer extends InstanceWatcher {
  readonly stats: SpotReclaimerStats = { warned: 0, reclaimed: 0 };
  /** When each watched container was first seen Running, by instance. */
  private readonly runningSince = new Map<string, number>();
  /** Containers whose instance was warned (each at most once). */
  readonly warnedContainers = new Set<string>();
  /** Reclaim deadlines of warned instances. */
  private readonly deadlines = new Map<string, number>();

  constructor(private readonly options: SpotReclaimerOptions) {
    super(options.pollMs);
  }

  step(now = Date.now()): void {
    const { ec2, arvados, tagKeyPrefix } = this.options;
    for (const [instanceId, deadline] of this.deadlines) {
      if (now < deadline) continue;
      this.deadlines.delete(instanceId);
      const state = ec2.instance(instanceId)?.state;
      if (state === "pending" || state === "running") {
        ec2.interruptSpot(instanceId);
        this.stats.reclaimed++;
      }
    }
    for (const instance of ec2.instancesWhere((i) => i.market === "spot" && i.state === "running")) {
      const tagged = instance.tags[`${tagKeyPrefix}ContainerUUID`];
      const on = tagged !== undefined ? [tagged] : (this.options.containersOn?.(instance.instanceId) ?? []);
      // The instance is reclaimed for the first container on it the workload marks.
      const uuid = on.find((u) => !this.warnedContainers.has(u) && this.options.interruptAfterMs(u) !== undefined);
      if (uuid === undefined || this.deadlines.has(instance.instanceId)) continue;
      const afterMs = this.options.interruptAfterMs(uuid) ?? 0;
      if (arvados.getContainer(uuid)?.state !== "Running") continue;
      const since = this.runningSince.get(instance.instanceId) ?? now;
      this.runningSince.set(instance.instanceId, since);
      if (now - since < afterMs) continue;
      // Every container on it loses its instance, not only the one that picked it.
      for (const u of on) this.warnedContainers.add(u);
      this.deadlines.set(instance.instanceId, now + this.options.warningMs);
      this.stats.warned++;
      this.options.publish(spotInterruptionWarning(instance.instanceId, this.options.region, new Date(now)));
    }
  }
}
