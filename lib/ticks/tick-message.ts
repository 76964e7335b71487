import type { SendMessageCommandInput } from "@aws-sdk/client-sqs";

/**
 * The tick chain's messages. update-queue's tick carries the generation it may claim (see
 * update-tick.ts); launch's wake carries nothing but its kind: any pass plans the whole backlog.
 */
export type TickMessage = { kind: "update-tick"; generation: number } | { kind: "launch-wake"; reason: WakeReason };

/** Why launch asked to be woken: a backlog left for the next pass, or a window that expires (§4.1). */
export type WakeReason = "backlog" | "throttle" | "quota" | "capacity";

/** SQS's longest message delay. */
export const maxDelaySeconds = 900;

/** The message body of `message`. */
export function tickBody(message: TickMessage): string {
  return JSON.stringify(message);
}

/** The tick in a message body; undefined for anything else (a body this code did not send). */
export function parseTick(body: string): TickMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const m = value as Record<string, unknown>;
  if (m.kind === "update-tick" && typeof m.generation === "number" && Number.isSafeInteger(m.generation) && m.generation >= 0) {
    return { kind: "update-tick", generation: m.generation };
  }
  if (m.kind === "launch-wake" && (m.reason === "backlog" || m.reason === "throttle" || m.reason === "quota" || m.reason === "capacity")) {
    return { kind: "launch-wake", reason: m.reason };
  }
  return undefined;
}

/** Whole seconds of delay for `delayMs`: rounded up (a window must have expired), at most SQS's 900. */
export function delaySeconds(delayMs: number): number {
  return Math.min(maxDelaySeconds, Math.max(0, Math.ceil(delayMs / 1000)));
}

/** Builds the SendMessage of `message`, delivered no sooner than `delayMs` from now. */
export function sendTickInput(queueUrl: string, message: TickMessage, delayMs: number): SendMessageCommandInput {
  return { QueueUrl: queueUrl, MessageBody: tickBody(message), DelaySeconds: delaySeconds(delayMs) };
}
