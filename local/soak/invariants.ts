/**
 * The soak's invariants, as pure functions of what the services hold at the end: plain data in,
 * pass/fail with figures out, so each rule can be tested with hand-made records.
 *
 * - nothing lost: every container ended Complete, or Cancelled for an upstream reason only
 *   (unsatisfiable, MaxDispatchAttempts, or its spot instance reclaimed under it);
 * - nothing duplicated: at most one instance per container lock (ClientToken attempt);
 * - nothing leaked: no instance left running, no queue entry left for a finished container;
 * - no churn: lock_count never reached MaxDispatchAttempts;
 * - no secret out: the Arvados token in no log line and no request body or URL to any service.
 */
import type { SecretLeak } from "../secret-scan.js";

/** A workload container as Arvados holds it at the end. */
export interface FinalContainer {
  uuid: string;
  label: string;
  state: string;
  runtimeError?: string;
  lockCount: number;
  /** No configured instance type fits it: Cancelled with upstream's error is its only correct end. */
  unsatisfiable: boolean;
  /** EC2 reclaimed its spot instance while it ran: Cancelled (not running on any worker) is a correct end. */
  spotReclaimed?: boolean;
  /** Its instance ended under its running crunch-run (pool mode): Cancelled (not running on any worker) is a correct end. */
  instanceLost?: boolean;
}

/** An instance RunInstances created, as the EC2 simulator recorded it. */
export interface CreatedInstance {
  instanceId: string;
  /** The `<TagKeyPrefix>ContainerUUID` tag. */
  containerUuid?: string;
  clientToken?: string;
  /** Its state at the end. */
  state: string;
  /** A pool worker (`<TagKeyPrefix>Worker=pool`): no container tag; crunch-run starts count its locks instead. */
  worker?: boolean;
}

/** One invariant's verdict. */
export interface InvariantResult {
  name: string;
  pass: boolean;
  /** The numbers behind the verdict, one line. */
  figures: string;
  /** A few offending items, for the report. */
  examples: string[];
}

/** Everything the invariants look at. */
export interface SoakOutcome {
  containers: readonly FinalContainer[];
  instances: readonly CreatedInstance[];
  /** uuids of container entries still in the queue table. */
  queueEntries: ReadonlySet<string>;
  maxDispatchAttempts: number;
  /** upstream's runtime_status.error for an unsatisfiable container. */
  unsatisfiableError: string;
  /** Texts checked for the Arvados token, by place (see `tokenScanPlaces`), and what was found. */
  tokenScan: { checked: Readonly<Record<string, number>>; leaks: readonly SecretLeak[] };
}

/**
 * Where the soak looks for the token: every line the functions logged, and the URL and body of
 * every request they sent (the Arvados one's Authorization header, the token's only place, is
 * not part of it; DynamoDB's bodies hold every item written).
 */
export const tokenScanPlaces = ["log line", "Arvados request", "EC2 request", "DynamoDB request"] as const;

const exampleLimit = 5;
// upstream's check_unlock cancel message (§5.4): "... exceeding 'Containers.MaxDispatchAttempts' (lock_count=N)".
const maxDispatchAttemptsError = /Containers\.MaxDispatchAttempts/;

/** The (container uuid, lock attempt) a ClientToken `<uuid>-<attempt>-<16 hex>` names (lib/cloud/client-token.ts). */
export function lockOfClientToken(token: string | undefined): { uuid: string; attempt: number } | undefined {
  const m = token === undefined ? null : /^(.+)-(\d+)-[0-9a-f]{16}$/.exec(token);
  return m?.[1] === undefined || m[2] === undefined ? undefined : { uuid: m[1], attempt: Number(m[2]) };
}

function count<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

function listCounts(counts: Record<string, number>): string {
  return (
    Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ") || "none"
  );
}

/** Every container ended: Complete, or Cancelled with upstream's unsatisfiable error, for MaxDispatchAttempts, or after a spot reclaim. */
export function everyContainerEnded(o: SoakOutcome): InvariantResult {
  const outcome = (c: FinalContainer): string => {
    if (c.unsatisfiable)
      return c.state === "Cancelled" && c.runtimeError === o.unsatisfiableError
        ? "Cancelled (unsatisfiable)"
        : `wrong: ${c.state}`;
    if (c.state === "Complete") return "Complete";
    if (c.state === "Cancelled" && maxDispatchAttemptsError.test(c.runtimeError ?? ""))
      return "Cancelled (MaxDispatchAttempts)";
    if (c.state === "Cancelled" && c.spotReclaimed === true) return "Cancelled (spot instance reclaimed)";
    if (c.state === "Cancelled" && c.instanceLost === true) return "Cancelled (instance ended while it ran)";
    return c.state === "Cancelled" ? "wrong: Cancelled without an upstream reason" : `wrong: ${c.state}`;
  };
  const bad = o.containers.filter((c) => outcome(c).startsWith("wrong"));
  return {
    name: "every container Complete, or Cancelled for an upstream reason",
    pass: bad.length === 0,
    figures: `${o.containers.length} containers: ${listCounts(count(o.containers, outcome))}`,
    examples: bad
      .slice(0, exampleLimit)
      .map((c) => `${c.label} ${c.uuid} ${c.state}${c.runtimeError === undefined ? "" : ` (${c.runtimeError})`}`),
  };
}

/**
 * At most one instance was ever created per container lock, and every one-container instance
 * names its container and lock. Pool workers are counted apart: one carries many locks, and
 * "at most one crunch-run per container lock" (worker-invariants.ts) checks them.
 */
export function oneInstancePerLock(o: SoakOutcome): InvariantResult {
  const byLock = new Map<string, CreatedInstance[]>();
  const unattributable: CreatedInstance[] = [];
  const workers = o.instances.filter((i) => i.worker === true).length;
  for (const i of o.instances) {
    if (i.worker === true) continue;
    const lock = lockOfClientToken(i.clientToken);
    if (lock === undefined || i.containerUuid === undefined || lock.uuid !== i.containerUuid) {
      unattributable.push(i);
      continue;
    }
    const key = `${lock.uuid} lock ${lock.attempt}`;
    byLock.set(key, [...(byLock.get(key) ?? []), i]);
  }
  const duplicated = [...byLock].filter(([, list]) => list.length > 1);
  const containers = new Set([...byLock.keys()].map((k) => k.split(" ")[0]));
  return {
    name: "at most one instance per container lock",
    pass: duplicated.length === 0 && unattributable.length === 0,
    figures: `${o.instances.length - workers} one-container instances created for ${byLock.size} locks of ${containers.size} containers${workers > 0 ? ` (and ${workers} pool workers)` : ""}; locks with more than one: ${duplicated.length}; instances without a container tag and ClientToken to match: ${unattributable.length}`,
    examples: [
      ...duplicated.map(([key, list]) => `${key}: ${list.map((i) => i.instanceId).join(", ")}`),
      ...unattributable.map((i) => `${i.instanceId} tag ${i.containerUuid ?? "-"} token ${i.clientToken ?? "-"}`),
    ].slice(0, exampleLimit),
  };
}

/** No instance is left pending, running or stopped (shutting-down is on its way out). */
export function noInstanceLeft(o: SoakOutcome): InvariantResult {
  const left = o.instances.filter((i) => i.state !== "terminated" && i.state !== "shutting-down");
  return {
    name: "no instance left running",
    pass: left.length === 0,
    figures: `instances at the end: ${listCounts(count(o.instances, (i) => i.state))}`,
    examples: left.slice(0, exampleLimit).map((i) => `${i.instanceId} ${i.state} for ${i.containerUuid ?? "-"}`),
  };
}

/** The queue table holds no entry for a finished (Complete or Cancelled) container. */
export function noEntryForFinished(o: SoakOutcome): InvariantResult {
  const finished = o.containers.filter((c) => c.state === "Complete" || c.state === "Cancelled");
  const left = finished.filter((c) => o.queueEntries.has(c.uuid));
  return {
    name: "no queue entry left for a finished container",
    pass: left.length === 0,
    figures: `${left.length} of ${finished.length} finished containers still in the queue table (${o.queueEntries.size} entries in all)`,
    examples: left.slice(0, exampleLimit).map((c) => `${c.label} ${c.uuid} ${c.state}`),
  };
}

/** lock_count stayed below MaxDispatchAttempts: the dispatcher's own retries never used up a container's attempts. */
export function lockCountBelowMax(o: SoakOutcome): InvariantResult {
  const satisfiable = o.containers.filter((c) => !c.unsatisfiable);
  const max = Math.max(0, ...satisfiable.map((c) => c.lockCount));
  const reached = satisfiable.filter((c) => c.lockCount >= o.maxDispatchAttempts);
  const histogram = Object.entries(count(satisfiable, (c) => String(c.lockCount))).sort(
    ([a], [b]) => Number(a) - Number(b),
  );
  return {
    name: `lock_count below MaxDispatchAttempts (${o.maxDispatchAttempts})`,
    pass: reached.length === 0,
    figures: `max lock_count ${max}; containers by lock_count: ${histogram.map(([n, k]) => `${n}: ${k}`).join(", ") || "none"}`,
    examples: reached.slice(0, exampleLimit).map((c) => `${c.label} ${c.uuid} lock_count ${c.lockCount}`),
  };
}

/** The token appeared nowhere it was looked for, and every place was looked at (an idle tap proves nothing). */
export function tokenNowhere(o: SoakOutcome): InvariantResult {
  const { checked, leaks } = o.tokenScan;
  const unchecked = tokenScanPlaces.filter((place) => (checked[place] ?? 0) === 0);
  return {
    name: "the Arvados token in no log line or request but its Authorization header",
    pass: leaks.length === 0 && unchecked.length === 0,
    figures: `${leaks.length} found in ${tokenScanPlaces.map((place) => `${checked[place] ?? 0} ${place}s`).join(", ")}`,
    examples: [
      ...unchecked.map((place) => `${place}: none checked`),
      ...leaks.map((l) => `${l.place}: ${l.form}`),
    ].slice(0, exampleLimit),
  };
}

/** Every invariant, in report order. */
export function checkInvariants(o: SoakOutcome): InvariantResult[] {
  return [
    everyContainerEnded(o),
    oneInstancePerLock(o),
    noInstanceLeft(o),
    noEntryForFinished(o),
    lockCountBelowMax(o),
    tokenNowhere(o),
  ];
}
