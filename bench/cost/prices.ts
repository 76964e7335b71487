/**
 * List prices the cost bench bills with: region us-east-1 (US East, N. Virginia), on-demand, no
 * free tier, as published on the AWS pricing pages as of 2024-11 (the DynamoDB on-demand price
 * cut of 2024-11-01 included) and still the list prices this code knows on 2026-12-07. They were
 * not re-checked online when written (this machine has no network): check them against
 * https://aws.amazon.com/{lambda,dynamodb,sqs,eventbridge}/pricing/ before quoting a bill.
 */
export const prices = {
  region: "us-east-1",
  asOf: "2024-11 list prices (pages of aws.amazon.com/<service>/pricing)",
  /** Lambda, arm64 (Graviton), first 7.5 billion GB-seconds a month. */
  lambdaArmPerGbSecond: 0.0000133334,
  /** Lambda requests, any architecture: $0.20 per million. */
  lambdaPerRequest: 0.2 / 1e6,
  /** DynamoDB on-demand, Standard table class: $0.625 per million write request units. */
  dynamoDbPerWriteUnit: 0.625 / 1e6,
  /** DynamoDB on-demand: $0.125 per million read request units. DynamoDB Streams reads by Lambda triggers are free. */
  dynamoDbPerReadUnit: 0.125 / 1e6,
  /** SQS standard queue: $0.40 per million requests (each 64 KB chunk of a payload is one). */
  sqsPerRequest: 0.4 / 1e6,
  /**
   * EventBridge scheduled rules on the default bus: the events a schedule rule emits are not
   * billed (EventBridge bills custom, partner and cross-account events at $1.00 per million, and
   * EventBridge Scheduler's invocations at $1.00 per million; this stack uses neither).
   */
  eventBridgeScheduledEvent: 0,
} as const;

/**
 * Lambda's SQS event source mapping polls an idle queue with long polls (20 s) on several
 * connections; each empty ReceiveMessage is a billed request. AWS documents five pollers to
 * start with; 5 connections × 3 polls a minute per queue is the figure used here (an
 * assumption: AWS does not publish the idle rate, and it may be lower).
 */
export const idleReceivesPerQueuePerMinute = 15;

/** Seconds in the month the bills are for (30 days). */
export const monthSeconds = 30 * 24 * 3600;
