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

  /** Per workload line: its containers' uuids once submitted, and when the last of them was seen final. */
  private readonly lines = new Map<string, { planned: number; uuids: string[]; endedAt?: number }>();

  constructor(
    private readonly sim: ArvadosSimulator,
    planned: readonly PlannedContainer[],
    private readonly startedAt: number,
  ) {
    this.remaining = [...planned].sort((a, b) => a.submitAfterMs - b.submitAfterMs);
    for (const p of planned) {
      const line = this.lines.get(p.line) ?? { planned: 0, uuids: [] };
      line.planned++;
      this.lines.set(p.line, line);
    }
  }

  /** When every container of `name` was first seen final (the Arvados simulator's state), if it has ended. */
  private lineEndedAt(name: string, now: number): number | undefined {
    const line = this.lines.get(name);
    if (line === undefined || line.uuids.length < line.planned) return undefined;
    if (line.endedAt === undefined) {
      const final = (uuid: string) => {
        const state = this.sim.getContainer(uuid)?.state;
        return state === "Complete" || state === "Cancelled";
      };
      if (line.uuids.every(final)) line.endedAt = now;
    }
    return line.endedAt;
  }

  /** Whether `p` is due: its time from the run's start, or from the end of the line it follows. */
  private isDue(p: PlannedContainer, now: number): boolean {
    if (p.after === undefined) return p.submitAfterMs <= now - this.startedAt;
    const ended = this.lineEndedAt(p.after, now);
    return ended !== undefined && p.submitAfterMs <= now - ended;
  }

  /** The whole workload has been submitted. */
  get done(): boolean {
    return this.remaining.length === 0;
  }

  /** How many containers the workload holds in all. */
  get total(): number {
    return this.submitted.length + this.remaining.length;
  }

  /** Submits every container that is due at `now`, in plan order. */
  submitDue(now = Date.now()): void {
    const due = this.remaining.filter((p) => this.isDue(p, now));
    if (due.length === 0) return;
    const dueSet = new Set(due);
    this.remaining.splice(0, this.remaining.length, ...this.remaining.filter((p) => !dueSet.has(p)));
    for (const next of due) {
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
      this.lines.get(next.line)?.uuids.push(submitted.uuid);
    }
  }

  /** The workload container with this uuid, if it is one. */
  get(uuid: string): SubmittedContainer | undefined {
    return this.byUuid.get(uuid);
  }
}
