import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { sendTickInput, type TickMessage } from "./tick-message.js";

/** A TickSender delivers a tick message later: the narrow port update-tick and launch depend on. */
export interface TickSender {
  /** Sends `message` to be delivered `delayMs` from now (rounded up to whole seconds, at most 15 minutes); resolves once SQS took it. */
  send(message: TickMessage, delayMs: number): Promise<void>;
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
