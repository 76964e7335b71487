import type { ScheduledEvent, SQSEvent, SQSRecord } from "aws-lambda";
import { parseTick, type TickMessage } from "../model/ticks.js";

/** Whether a Lambda event is an SQS batch (tick or wake messages) rather than a schedule or a stream batch. */
export function isSqsEvent(event: unknown): event is SQSEvent {
  const records = (event as { Records?: unknown }).Records;
  return Array.isArray(records) && records.length > 0 && (records[0] as Partial<SQSRecord>).eventSource === "aws:sqs";
}

/** Each record of an SQS batch with the tick it carries (undefined for a body this code never sends). */
export function ticksOf(event: SQSEvent | ScheduledEvent): { messageId: string; tick: TickMessage | undefined }[] {
  if (!isSqsEvent(event)) return [];
  return event.Records.map((r) => ({ messageId: r.messageId, tick: parseTick(r.body) }));
}
