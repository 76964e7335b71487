/**
 * When the Arvados client repeats a failed request, and how long it waits. Upstream's
 * dispatcher client does not retry at all (§1.11, `Timeout = 0`); here a Lambda invocation
 * benefits from riding out a brief 502/503/504 on reads, but a write is repeated only when it
 * provably never reached the server, since a lock or update repeated after a lost reply
 * could act twice.
 */

import { ArvadosApiError, ArvadosNetworkError } from "./errors.js";

/** Attempts (including the first) and the backoff bounds. */
export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Defaults: 3 attempts, 200 ms base delay, 5 s cap. */
export const defaultRetryPolicy: RetryPolicy = { attempts: 3, baseDelayMs: 200, maxDelayMs: 5000 };

/** Statuses that mean "the server or a proxy in front of it is briefly unable", safe to re-read. */
const retryableReadStatuses = new Set([502, 503, 504]);

/**
 * Says whether a failed call may be sent again. Reads (`idempotent`) retry on any network
 * failure or timeout and on 502/503/504; writes only on a network failure that happened
 * before the request was sent (connection refused), never on a 5xx or a timeout. A reply
 * that arrived but was unusable (malformed, or past the body cap) is never retried: the same
 * request would get the same reply.
 */
export function isRetryable(error: unknown, idempotent: boolean): boolean {
  if (error instanceof ArvadosNetworkError) return idempotent || !error.requestSent;
  if (error instanceof ArvadosApiError) return idempotent && retryableReadStatuses.has(error.status);
  return false;
}

/**
 * The wait before attempt `failedAttempts + 1`: exponential (`base × 2^(n-1)`, capped), with
 * "equal jitter" (half fixed, half random) so concurrent Lambdas spread out but never hammer
 * the server with a zero wait. `random` is in [0, 1).
 */
export function backoffDelayMs(
  policy: RetryPolicy,
  failedAttempts: number,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, failedAttempts - 1));
  return exponential / 2 + random() * (exponential / 2);
}
