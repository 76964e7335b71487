import { errorCode } from "../observability/error-code.js";
import type { QueueEntry } from "../model/entry.js";
import type { LaunchTable } from "./ports.js";

/** Status writes in flight at once: each is one small conditional UpdateItem. */
const statusWriteConcurrency = 8;

/** Queue positions up to this are stored exactly: the head of the line, where a user watches the number fall. */
export const exactPositionsUpTo = 10;
/** Past the head, a stored position is rewritten once the true one differs from it by this share of it. */
export const positionDriftShare = 0.25;

const positionPattern = /at position (\d+)\./;

/**
 * Whether `next` tells a user something `stored` does not: another status, or a queue position
 * that moved enough to matter. Upstream recomputes every status in memory each pass; here each
 * is a table write, and in a backlog nearly every position changes every pass (hundreds of
 * writes a pass, each billed). So a position-only change is stored at the head of the line
 * (position ≤ exactPositionsUpTo) or once it drifts by positionDriftShare: a container waits
 * through about 10 + log₄⁄₃(position) writes instead of one per pass, and the position the
 * dispatch API shows is within a quarter of the truth.
 */
export function statusChanged(stored: string | undefined, next: string): boolean {
  if (stored === next) return false;
  if (stored === undefined) return true;
  const was = positionPattern.exec(stored);
  const now = positionPattern.exec(next);
  if (was === null || now === null || stored.replace(was[0], "") !== next.replace(now[0], "")) return true;
  const [wasPosition, nowPosition] = [Number(was[1]), Number(now[1])];
  return nowPosition <= exactPositionsUpTo || Math.abs(nowPosition - wasPosition) >= positionDriftShare * wasPosition;
}

/** What storing one plan's statuses did. */
export interface StatusWrites {
  /** Entries whose stored status changed. */
  written: number;
  /** Writes that failed (throttling, a fault): the next pass tries again. */
  errors: number;
  /** The error code of each failure, for the pass log. */
  errorCodes: string[];
}

/**
 * Stores the scheduling status a plan gave each waiting entry (§3.3 status table) where it
 * differs from the one the entry holds (see statusChanged), so the dispatch API can answer "why does it wait" as
 * upstream does. An entry already holding its status costs nothing, so a steady queue writes
 * nothing; each write is conditional on the status still differing and the container still
 * waiting. A status is advisory: failures are counted, never thrown, and no write starts once
 * `timeLeft()` is false (the next pass catches up).
 */
export async function storeStatuses(
  store: Pick<LaunchTable, "setSchedulingStatus">,
  entries: ReadonlyMap<string, QueueEntry>,
  statuses: Readonly<Record<string, string>>,
  timeLeft: () => boolean,
): Promise<StatusWrites> {
  const result: StatusWrites = { written: 0, errors: 0, errorCodes: [] };
  const changed = Object.entries(statuses).filter(([uuid, status]) => {
    const entry = entries.get(uuid);
    return entry !== undefined && statusChanged(entry.schedulingStatus, status);
  });
  let next = 0;
  const worker = async () => {
    while (next < changed.length && timeLeft()) {
      const [uuid, status] = changed[next++] ?? [];
      if (uuid === undefined || status === undefined) continue;
      try {
        if (await store.setSchedulingStatus(uuid, status)) result.written++;
      } catch (err) {
        result.errors++;
        result.errorCodes.push(errorCode(err));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(statusWriteConcurrency, changed.length) }, worker));
  return result;
}
