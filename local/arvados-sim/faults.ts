/**
 * Fault injection for the simulator: "the next N requests matching a route pattern" fail in
 * a chosen way, so tests can drive a client through 5xx, slow replies, malformed or truncated
 * bodies and dropped connections without timing tricks.
 */

/**
 * What happens to a matched request:
 * - `status`: an upstream-format error reply with that status; the request is not processed.
 * - `delay`: the request is processed normally after `ms` (a slow server; the change is applied even if the client gave up).
 * - `malformed`: processed, but the reply body is not JSON.
 * - `truncated`: processed, but only the first half of the JSON body is sent (the reply ends cleanly).
 * - `reset`: the connection is dropped without a reply; the request is not processed.
 * - `replace`: processed, but the reply body is `body` (and the status `status`, if given): any shape a test needs.
 */
export type FaultEffect =
  | { kind: "status"; status: number; message?: string }
  | { kind: "delay"; ms: number }
  | { kind: "malformed" }
  | { kind: "truncated" }
  | { kind: "reset" }
  | { kind: "replace"; body: string; status?: number };

/**
 * A fault for the next `count` (default 1) requests matching `route`: `"<METHOD> <path>"`
 * or just `"<path>"`, where METHOD may be `*`, and in the path `*` matches within one segment
 * and `**` matches anything. The method matched is the one the API sees (GET for a POST with
 * `X-Http-Method-Override: GET`). Example: `"POST /arvados/v1/containers/*\/lock"`.
 */
export interface FaultRule {
  route: string;
  count?: number;
  effect: FaultEffect;
}

interface ActiveFault {
  method: string;
  path: RegExp;
  remaining: number;
  rule: FaultRule;
}

function compileRoute(route: string): { method: string; path: RegExp } {
  const trimmed = route.trim();
  const space = trimmed.indexOf(" ");
  const method = space < 0 || trimmed.startsWith("/") ? "*" : trimmed.slice(0, space).toUpperCase();
  const pathGlob = space < 0 || trimmed.startsWith("/") ? trimmed : trimmed.slice(space + 1).trim();
  const source = pathGlob
    .split(/(\*\*|\*)/)
    .map((part) => (part === "**" ? ".*" : part === "*" ? "[^/]*" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("");
  return { method, path: new RegExp(`^${source}$`) };
}

/** The FaultPlan holds pending faults; the first matching one is used up first. */
export class FaultPlan {
  #faults: ActiveFault[] = [];

  /** Adds a fault. Throws on a count below 1. */
  inject(rule: FaultRule): void {
    const count = rule.count ?? 1;
    if (!Number.isInteger(count) || count < 1) throw new RangeError("fault count must be a positive integer");
    this.#faults.push({ ...compileRoute(rule.route), remaining: count, rule });
  }

  /** Takes one use of the first fault matching this request, if any. */
  take(method: string, path: string): FaultEffect | undefined {
    const index = this.#faults.findIndex((f) => (f.method === "*" || f.method === method) && f.path.test(path));
    const fault = this.#faults[index];
    if (fault === undefined) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.#faults.splice(index, 1);
    return fault.rule.effect;
  }

  /** Faults not yet used up, with their remaining counts. */
  pending(): FaultRule[] {
    return this.#faults.map((f) => ({ ...f.rule, count: f.remaining }));
  }

  clear(): void {
    this.#faults = [];
  }
}
