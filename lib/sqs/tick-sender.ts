import { SendMessageCommand, type SendMessageCommandInput, type SQSClient } from "@aws-sdk/client-sqs";
import { type TickMessage, type TickSender, tickBody } from "../model/ticks.js";

/** SQS's longest message delay. */
export const maxDelaySeconds = 900;

/** Whole seconds of delay for `delayMs`: rounded up (a window must have expired), at most SQS's 900. */
export function delaySeconds(delayMs: number): number {
  return Math.min(maxDelaySeconds, Math.max(0, Math.ceil(delayMs / 1000)));
}

/** Builds the SendMessage of `message`, delivered no sooner than `delayMs` from now. */
export function sendTickInput(queueUrl: string, message: TickMessage, delayMs: number): SendMessageCommandInput {
  return { QueueUrl: queueUrl, MessageBody: tickBody(message), DelaySeconds: delaySeconds(delayMs) };
}

/** A TickSender on one SQS queue (delayed messages: DelaySeconds). */
export class SqsTickSender implements TickSender {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(message: TickMessage, delayMs: number): Promise<void> {
    await this.sqs.send(new SendMessageCommand(sendTickInput(this.queueUrl, message, delayMs)));
  }
}
