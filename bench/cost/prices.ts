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
 * Empty receives of Lambda's SQS poller, per queue and minute, whether or not a message comes:
 * 5 pollers × 3 long polls a minute. The model, from what AWS publishes:
 * - "When a Lambda function subscribes to an SQS queue, Lambda polls the queue as it waits for
 *   messages to arrive ... starting at five concurrent batches" (AWS Compute Blog, "Understanding
 *   how AWS Lambda scales with Amazon SQS standard queues"; the Lambda developer guide's "Using
 *   Lambda with Amazon SQS" says Lambda polls with long polling): 5 pollers;
 * - a long poll waits at most 20 s (SQS developer guide, "Setting-up long polling"): 3 a minute
 *   each on an empty queue;
 * - every ReceiveMessage is a billed request, messages or not ("short polling is billed the same
 *   as long polling"; AWS Knowledge Center, "Why are my Amazon SQS charges higher than expected?":
 *   a queue that invokes a Lambda function has empty receives even when it is not used).
 * AWS publishes no idle poller count; 5 is the documented starting concurrency, so this is an
 * estimate, per queue: the deployment has one queue (launch's wake-ups ride the tick queue) so
 * that it is paid once. The receives that return a tick are counted on their own
 * (sqsRequestsPerMessage), although each one ends a poll early and so replaces part of an empty
 * one: the bill is on the high side. Check it against the queue's NumberOfEmptyReceives metric.
 */
export const idleReceivesPerQueuePerMinute = 15;

/** Seconds in the month the bills are for (30 days). */
export const monthSeconds = 30 * 24 * 3600;
