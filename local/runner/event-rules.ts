/**
 * The EventBridge rules of serverless.yml (`eventBridge: pattern:`), locally: an event published
 * here invokes, once and asynchronously, every function one of whose patterns matches it, as
 * EventBridge does. (Scheduled rules are local/runner/schedules.ts.)
 */
import { type Json, patternMatches } from "../event-filter.js";

/** A function a rule invokes. */
export interface RuleTarget {
  name: string;
  invoke(event: unknown): Promise<unknown>;
}

/** Per-function delivery counters. */
export interface RuleStats {
  delivered: number;
  failed: number;
}

/** EventRules routes published events to the functions whose patterns match. */
export class EventRules {
  readonly stats = new Map<string, RuleStats>();

  constructor(
    private readonly rules: readonly { target: RuleTarget; patterns: readonly Json[] }[],
    private readonly onError: (name: string, err: unknown) => void = () => undefined,
  ) {
    for (const r of rules) if (r.patterns.length > 0) this.stats.set(r.target.name, { delivered: 0, failed: 0 });
  }

  /** Invokes every matching function with `event`; returns their names. */
  publish(event: Json): string[] {
    const matched = this.rules.filter((r) => r.patterns.some((p) => patternMatches(p, event)));
    for (const { target } of matched) {
      const stats = this.stats.get(target.name) ?? { delivered: 0, failed: 0 };
      this.stats.set(target.name, stats);
      stats.delivered++;
      target.invoke(event).catch((err: unknown) => {
        stats.failed++;
        this.onError(target.name, err);
      });
    }
    return matched.map((r) => r.target.name);
  }
}
