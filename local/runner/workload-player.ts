/**
 * Submits a workload's containers to the Arvados simulator at their times, as users' container
 * requests would (the simulator assigns each container its priority from its request's, §5.6),
 * and remembers what each container is (label, runtime) for crunch-run's emulation, the display
 * and the summary.
 */
import type { ArvadosSimulator } from "../arvados-sim/simulator.js";
import type { PlannedContainer } from "../workload.js";

/** A submitted workload container. */
export interface SubmittedContainer {
  uuid: string;
  label: string;
  runtimeMs: number;
  exitCode: number;
  spotInterruptionAfterMs?: number;
  /** created_at as the simulator recorded it. */
  createdAt: string;
  /** The container priority the simulator assigned (int64, exact). */
  priority: bigint;
}

/** WorkloadPlayer submits planned containers once their time has come. */
export class WorkloadPlayer {
  readonly submitted: SubmittedContainer[] = [];
  private readonly byUuid = new Map<string, SubmittedContainer>();
  private readonly remaining: PlannedContainer[];

  constructor(
    private readonly sim: ArvadosSimulator,
    planned: readonly PlannedContainer[],
    private readonly startedAt: number,
  ) {
    this.remaining = [...planned].sort((a, b) => a.submitAfterMs - b.submitAfterMs);
  }

  /** The whole workload has been submitted. */
  get done(): boolean {
    return this.remaining.length === 0;
  }

  /** How many containers the workload holds in all. */
  get total(): number {
    return this.submitted.length + this.remaining.length;
  }

  /** Submits every container that is due at `now`. */
  submitDue(now = Date.now()): void {
    while (this.remaining.length > 0 && (this.remaining[0]?.submitAfterMs ?? 0) <= now - this.startedAt) {
      const next = this.remaining.shift();
      if (next === undefined) break;
      const createdAtMs =
        next.requestCreatedAtMs === undefined ? undefined : Math.round(this.startedAt) + next.requestCreatedAtMs;
      const container = this.sim.addContainer(next.fields, {
        request: { priority: next.requestPriority, ...(createdAtMs === undefined ? {} : { createdAtMs }) },
      });
      const submitted: SubmittedContainer = {
        uuid: container.uuid,
        label: next.label,
        runtimeMs: next.runtimeMs,
        exitCode: next.exitCode,
        ...(next.spotInterruptionAfterMs === undefined
          ? {}
          : { spotInterruptionAfterMs: next.spotInterruptionAfterMs }),
        createdAt: container.created_at,
        priority: container.priority,
      };
      this.submitted.push(submitted);
      this.byUuid.set(submitted.uuid, submitted);
    }
  }

  /** The workload container with this uuid, if it is one. */
  get(uuid: string): SubmittedContainer | undefined {
    return this.byUuid.get(uuid);
  }
}
