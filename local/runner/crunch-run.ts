/**
 * crunch-run, played on the simulated instances: what the boot script of an instance started
 * for a container would do (lib/cloud/user-data.ts). Once an instance tagged
 * `<TagKeyPrefix>ContainerUUID` has been running for the boot delay, the container is marked
 * Running (it must be Locked by the dispatcher's token, as for the real crunch-run); after its
 * runtime it is finished Complete, and the instance powers itself off, which terminates it
 * (InstanceInitiatedShutdownBehavior). An instance whose container cannot be started (no longer
 * Locked, already running elsewhere, cancelled) or is cancelled while it runs powers off too.
 */
import type { ArvadosSimulator } from "../arvados-sim/simulator.js";
import type { SimInstance } from "../ec2-sim/model.js";
import type { Ec2Simulator } from "../ec2-sim/simulator.js";
import { InstanceWatcher } from "./instance-watcher.js";

/** How crunch-run behaves. */
export interface CrunchRunOptions {
  ec2: Ec2Simulator;
  arvados: ArvadosSimulator;
  tagKeyPrefix: string;
  /** From running to crunch-run starting the container (boot, image pull). */
  bootDelayMs: number;
  /** From the container ending to the instance powering off. */
  shutdownDelayMs: number;
  /** Runtime and exit code of a container; containers the workload does not know use the defaults. */
  plan: (uuid: string) => { runtimeMs: number; exitCode: number } | undefined;
  defaultRuntimeMs: number;
  /** Instances it leaves alone (worker instances whose real agent runs, local/worker-sim). */
  skip?: (instance: Readonly<SimInstance>) => boolean;
  pollMs?: number;
}

type Phase =
  | { name: "booting"; since: number }
  | { name: "running"; since: number; runtimeMs: number; exitCode: number }
  | { name: "exiting"; since: number }
  | { name: "off" };

/** What crunch-run did, for the display. */
export interface CrunchRunStats {
  started: number;
  completed: number;
  /** Instances whose container could not be started or was cancelled under them. */
  exitedEarly: number;
}

/** CrunchRunEmulator plays crunch-run on every instance of the EC2 simulator until stopped. */
export class CrunchRunEmulator extends InstanceWatcher {
  readonly stats: CrunchRunStats = { started: 0, completed: 0, exitedEarly: 0 };
  private readonly phases = new Map<string, Phase>();

  constructor(private readonly options: CrunchRunOptions) {
    super(options.pollMs);
  }

  step(now = Date.now()): void {
    const { ec2 } = this.options;
    // Apply the EC2 transitions that are due (pending → running, shutting-down → terminated).
    ec2.advance(0);
    const tagKey = `${this.options.tagKeyPrefix}ContainerUUID`;
    // Running instances, and those crunch-run is still on that have stopped running.
    const watched = (i: Readonly<SimInstance>) =>
      i.state === "running" || (this.phases.get(i.instanceId)?.name ?? "off") !== "off";
    for (const instance of ec2.instancesWhere(watched)) {
      const uuid = instance.tags[tagKey];
      if (uuid === undefined || this.options.skip?.(instance) === true) continue;
      const phase = this.phases.get(instance.instanceId);
      if (instance.state !== "running") {
        // Terminated from outside (cleanup, spot): crunch-run dies with its instance.
        if (phase !== undefined && instance.state !== "pending") this.phases.set(instance.instanceId, { name: "off" });
        continue;
      }
      const next = this.advance(uuid, phase ?? { name: "booting", since: now }, now);
      if (next.name === "off") ec2.shutdownFromInstance(instance.instanceId);
      this.phases.set(instance.instanceId, next);
    }
  }

  private advance(uuid: string, phase: Phase, now: number): Phase {
    const { arvados } = this.options;
    switch (phase.name) {
      case "booting": {
        if (now - phase.since < this.options.bootDelayMs) return phase;
        const state = arvados.getContainer(uuid)?.state;
        if (state !== "Locked") return this.exitEarly(now);
        try {
          arvados.startContainer(uuid);
        } catch {
          return this.exitEarly(now);
        }
        this.stats.started++;
        const plan = this.options.plan(uuid) ?? { runtimeMs: this.options.defaultRuntimeMs, exitCode: 0 };
        return { name: "running", since: now, ...plan };
      }
      case "running": {
        if (arvados.getContainer(uuid)?.state !== "Running") return this.exitEarly(now);
        if (now - phase.since < phase.runtimeMs) return phase;
        try {
          arvados.finishContainer(uuid, "Complete", phase.exitCode);
          this.stats.completed++;
        } catch {
          this.stats.exitedEarly++;
        }
        return { name: "exiting", since: now };
      }
      case "exiting":
        return now - phase.since < this.options.shutdownDelayMs ? phase : { name: "off" };
      case "off":
        return phase;
    }
  }

  private exitEarly(now: number): Phase {
    this.stats.exitedEarly++;
    return { name: "exiting", since: now };
  }
}
