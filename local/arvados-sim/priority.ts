/**
 * Container priorities as the API server assigns them (§5.6, the database function
 * `container_priority`): a container created for a user's container request gets
 * `request priority × 2^50 − the request's created_at in epoch ms`, so a higher request
 * priority always wins and, within one request priority, the older request does; a container
 * requested by another container inherits that container's priority. The values are int64
 * (about 5.6e17 for the CWL runner's default request priority of 500), past the 2^53 a
 * JavaScript number holds exactly, so they are bigints here, end to end.
 */

import { type ContainerState, isFinalState, maxPriority } from "../../lib/model/container.js";
import { SimError } from "./errors.js";

/** `container_requests.priority` is multiplied by 2^50 (`1125899906842624::bigint`). */
export const requestPriorityFactor = 1n << 50n;

/** The largest request priority the API accepts (ContainerRequest validates 0..1000). */
export const maxRequestPriority = 1000;

/** The CWL runner's default request priority: what a realistic fixture's request has. */
export const defaultRequestPriority = 500;

/**
 * The priority of a container whose only request has `requestPriority` and was created at
 * `createdAtMs` (epoch ms): `requestPriority × 2^50 − createdAtMs`. A request priority of 0
 * gives 0: upstream only counts requests with priority > 0 ("on hold" otherwise).
 */
export function containerPriority(requestPriority: number | bigint, createdAtMs: number | bigint): bigint {
  const request = BigInt(requestPriority);
  if (request <= 0n) return 0n;
  return request * requestPriorityFactor - BigInt(createdAtMs);
}

const timestampPattern = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/;

/**
 * A stored timestamp's epoch ms as upstream computes it for a priority:
 * `(extract(epoch from created_at)*1000)::bigint`, which rounds the microseconds to the
 * nearest ms (a numeric → bigint cast rounds half away from zero). Throws on text that is not
 * a simulator timestamp.
 */
export function priorityEpochMs(timestamp: string): bigint {
  const match = timestampPattern.exec(timestamp);
  const seconds = match === null ? Number.NaN : Date.parse(`${match[1]}Z`);
  if (match === null || Number.isNaN(seconds)) throw new RangeError(`not a timestamp: ${timestamp}`);
  const micros = BigInt((match[2] ?? "").padEnd(9, "0").slice(0, 6));
  return BigInt(seconds) + (micros + 500n) / 1000n;
}

/**
 * An exact priority from what a caller may give: a bigint, an integer number a double holds
 * exactly, or a decimal string. Undefined for anything else, and for values outside 0 … 2^63−1.
 */
export function exactPriority(value: unknown): bigint | undefined {
  let priority: bigint;
  if (typeof value === "bigint") priority = value;
  else if (typeof value === "number" && Number.isSafeInteger(value)) priority = BigInt(value);
  else if (typeof value === "string" && /^\d+$/.test(value)) priority = BigInt(value);
  else return undefined;
  return priority >= 0n && priority <= maxPriority ? priority : undefined;
}

/**
 * Where a new container comes from, which decides the priority the API server gives it (§5.6).
 * With neither, the container is created for a request of priority 500 made at that moment.
 */
export interface ContainerOrigin {
  /**
   * The user's container request it is created for: `priority` 0 … 1000 (default 500) and
   * `createdAtMs`, the request's created_at in epoch ms (default: the simulator's clock as it
   * creates the container). The container's priority is `priority × 2^50 − createdAtMs`, 0 for
   * a request priority of 0.
   */
  request?: { priority?: number; createdAtMs?: number };
  /**
   * The container whose process submitted the request (a child container): it inherits that
   * container's priority, now and whenever it changes, and gets 0 once it finishes.
   */
  requestingContainerUuid?: string;
}

/**
 * §5.6: the priority the API server gives a container created at `now` for `origin`
 * (`parent`: the requesting container's record). A child's request carries its requesting
 * container's priority, or 0 when the request's own priority is 0 or the parent has finished.
 * Throws SimError 400 on a request priority outside 0 … 1000 or a created_at that is not whole ms.
 */
export function originPriority(
  origin: ContainerOrigin,
  parent: { state: ContainerState; priority: bigint } | undefined,
  now: string,
): bigint {
  const requestPriority = origin.request?.priority ?? defaultRequestPriority;
  if (!Number.isInteger(requestPriority) || requestPriority < 0 || requestPriority > maxRequestPriority) {
    throw new SimError(400, [`invalid request priority ${requestPriority}: an integer 0 … ${maxRequestPriority}`]);
  }
  const createdAtMs = origin.request?.createdAtMs;
  if (createdAtMs !== undefined && !Number.isSafeInteger(createdAtMs)) {
    throw new SimError(400, [`invalid request createdAtMs ${createdAtMs}: an integer number of ms since the epoch`]);
  }
  if (parent !== undefined) return requestPriority === 0 || isFinalState(parent.state) ? 0n : parent.priority;
  return containerPriority(requestPriority, createdAtMs ?? priorityEpochMs(now));
}
