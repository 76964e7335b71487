/**
 * EventBridge schedules as timers. Each `schedule: rate(...)` of serverless.yml fires its
 * function every `rate × tick / 1 minute` (the tick is 1 minute in AWS, a few seconds locally).
 * A tick that finds the function's previous scheduled invocation still running is dropped, as
 * AWS does for update-queue (reserved concurrency 1, no retries, short maximum event age) and
 * as the passes' own leases would make it a no-op anyway for launch and cleanup.
 */
import type { ScheduledEvent } from "aws-lambda";
import { eventBridgeEvent, localAccount } from "./eventbridge-event.js";

/** A function a schedule invokes. */
export interface ScheduledTarget {
  name: string;
  invoke(event: unknown): Promise<unknown>;
}

/** One schedule: a target and its local period. */
export interface ScheduleEntry {
  target: ScheduledTarget;
  expression: string;
  periodMs: number;
}

/** Per-function schedule counters. */
export interface ScheduleStats {
  fired: number;
  dropped: number;
  failed: number;
  lastError?: string;
}

/** The event EventBridge sends for a scheduled rule. */
export function scheduledEvent(ruleName: string, region: string, now = new Date()): ScheduledEvent {
  const rule = `arn:aws:events:${region}:${localAccount}:rule/${ruleName}`;
  return eventBridgeEvent("Scheduled Event", "aws.events", [rule], {}, region, now);
}

/** Schedules fires every entry's function on its period until stopped. */
export class Schedules {
  readonly stats = new Map<string, ScheduleStats>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly entries: readonly ScheduleEntry[],
    private readonly region: string,
    private readonly onError: (name: string, err: unknown) => void = () => undefined,
  ) {
    for (const e of entries) this.stats.set(e.target.name, { fired: 0, dropped: 0, failed: 0 });
  }

  /** Fires every schedule now, then on its period. */
  start(): void {
    for (const entry of this.entries) {
      this.fire(entry);
      this.timers.push(setInterval(() => this.fire(entry), entry.periodMs));
    }
  }

  /** Stops the timers; invocations in flight are left to the function's own stop. */
  stop(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
  }

  /** Whether a scheduled invocation of `name` is running. */
  running(name: string): boolean {
    return this.inFlight.has(name);
  }

  private fire(entry: ScheduleEntry): void {
    const name = entry.target.name;
    const stats = this.stats.get(name) ?? { fired: 0, dropped: 0, failed: 0 };
    this.stats.set(name, stats);
    if (this.inFlight.has(name)) {
      stats.dropped++;
      return;
    }
    stats.fired++;
    this.inFlight.add(name);
    entry.target
      .invoke(scheduledEvent(`${name}-schedule`, this.region))
      .catch((err: unknown) => {
        stats.failed++;
        stats.lastError = err instanceof Error ? err.message : String(err);
        this.onError(name, err);
      })
      .finally(() => this.inFlight.delete(name));
  }
}
