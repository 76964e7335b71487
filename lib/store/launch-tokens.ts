import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { metaKey } from "./item-codec.js";
import { SharedState } from "./shared-state.js";

import { runInstancesBucket } from "../model/launch-bucket.js";

export { runInstancesBucket };

/** A token bucket's stored state. */
export interface TokenBucketState {
  tokens: number;
  updatedAtMs: number;
}

/** The bucket after refilling up to `now`. Pure. */
export function refill(
  state: TokenBucketState,
  nowMs: number,
  bucket: { capacity: number; refillPerSecond: number } = runInstancesBucket,
): TokenBucketState {
  const elapsed = Math.max(0, nowMs - state.updatedAtMs) / 1000;
  return { tokens: Math.min(bucket.capacity, state.tokens + elapsed * bucket.refillPerSecond), updatedAtMs: nowMs };
}

/** The outcome of one attempt to take a token. */
export type TakeResult = { ok: true } | { ok: false; waitMs: number };

/**
 * LaunchTokens paces RunInstances across every invocation of the fleet with one token bucket
 * in the queue table, matching EC2's own bucket so the dispatcher never provokes throttling.
 * `take()` either takes a token or says how long until one is available; it never sleeps.
 */
export class LaunchTokens {
  private readonly state: SharedState<TokenBucketState>;

  constructor(
    ddb: DynamoDBClient,
    tableName: string,
    private readonly bucket: { capacity: number; refillPerSecond: number } = runInstancesBucket,
    private readonly now: () => number = Date.now,
  ) {
    this.state = new SharedState(ddb, tableName, metaKey.launchTokens, () => ({
      tokens: bucket.capacity,
      updatedAtMs: 0,
    }));
  }

  /** Takes one token: `{ ok: true }`, or `{ ok: false, waitMs }` until the next one refills. */
  take(): Promise<TakeResult> {
    return this.state.modify<TakeResult>((current) => {
      const nowMs = this.now();
      const filled = refill(current, nowMs, this.bucket);
      if (filled.tokens >= 1) {
        return { next: { ...filled, tokens: filled.tokens - 1 }, result: { ok: true } };
      }
      const waitMs = Math.ceil(((1 - filled.tokens) / this.bucket.refillPerSecond) * 1000);
      return { next: filled, result: { ok: false, waitMs } };
    });
  }

  /** Takes a token, sleeping as needed, unless that would take longer than `maxWaitMs`. */
  async takeWithin(maxWaitMs: number, sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))): Promise<boolean> {
    const deadline = this.now() + maxWaitMs;
    for (;;) {
      const taken = await this.take();
      if (taken.ok) return true;
      if (this.now() + taken.waitMs > deadline) return false;
      await sleep(taken.waitMs);
    }
  }
}
