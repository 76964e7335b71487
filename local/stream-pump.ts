import type { _Record as StreamRecordSdk } from "@aws-sdk/client-dynamodb-streams";
import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from "@aws-sdk/client-dynamodb-streams";
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { type Json, passesFilters } from "./event-filter.js";

/**
 * One Lambda event source mapping on the queue table's stream, as serverless.yml declares it.
 * `invoke` runs the very handler Lambda runs, with a Lambda-shaped event.
 */
export interface StreamMapping {
  name: string;
  filterPatterns: readonly Json[];
  batchSize: number;
  maximumBatchingWindowMs: number;
  bisectBatchOnFunctionError: boolean;
  maximumRetryAttempts: number;
  invoke: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | undefined>;
  /** The on-failure destination: records given up on after the retries. */
  onFailure?: (records: DynamoDBRecord[], reason: string) => void;
}

/** Counters a caller can print or assert on. */
export interface PumpStats {
  recordsRead: number;
  invocations: number;
  failedInvocations: number;
  recordsDiscarded: number;
  /** Stream reads that failed (and were retried after a pause). */
  readErrors: number;
  /** Batches delivered twice, and batches delivered in shuffled order, by the chaos options. */
  redelivered: number;
  reordered: number;
}

/**
 * Faults Lambda itself can produce, for soak tests: at-least-once delivery means a batch may
 * arrive again after it succeeded, and records of different items may arrive in any order.
 */
export interface PumpChaos {
  /** Probability that a successfully handled batch is delivered again. */
  redeliverRate: number;
  /** Probability that a batch's records are shuffled (order is only kept per item key in AWS). */
  reorderRate: number;
  random?: () => number;
}

/** Converts an SDK stream record into the shape Lambda delivers to a function. */
export function toLambdaRecord(record: StreamRecordSdk, streamArn: string): DynamoDBRecord {
  const d = record.dynamodb;
  return {
    eventID: record.eventID,
    eventName: record.eventName as DynamoDBRecord["eventName"],
    eventVersion: record.eventVersion ?? "1.1",
    eventSource: "aws:dynamodb",
    awsRegion: record.awsRegion ?? "ddblocal",
    eventSourceARN: streamArn,
    dynamodb: {
      ApproximateCreationDateTime:
        d?.ApproximateCreationDateTime === undefined ? undefined : d.ApproximateCreationDateTime.getTime() / 1000,
      Keys: d?.Keys as NonNullable<DynamoDBRecord["dynamodb"]>["Keys"],
      NewImage: d?.NewImage as NonNullable<DynamoDBRecord["dynamodb"]>["NewImage"],
      OldImage: d?.OldImage as NonNullable<DynamoDBRecord["dynamodb"]>["OldImage"],
      SequenceNumber: d?.SequenceNumber,
      SizeBytes: d?.SizeBytes,
      StreamViewType: d?.StreamViewType as NonNullable<DynamoDBRecord["dynamodb"]>["StreamViewType"],
    },
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A StreamPump emulates Lambda's DynamoDB Streams event source mappings on DynamoDB Local: it
 * reads every shard of the table's stream, filters records per mapping with the same patterns,
 * invokes each mapping's handler in batches, and honours partial batch responses (retry from
 * the first failed record), bisect on function error, bounded retries and the on-failure
 * destination. Each mapping keeps its own position, as separate ESMs do.
 */
export class StreamPump {
  readonly stats: PumpStats = {
    recordsRead: 0,
    invocations: 0,
    failedInvocations: 0,
    recordsDiscarded: 0,
    readErrors: 0,
    redelivered: 0,
    reordered: 0,
  };
  private readonly iterators = new Map<string, string | undefined>();
  /** The last sequence number read per shard, to resume after a failed iterator. */
  private readonly lastSequence = new Map<string, string>();
  private readonly pending = new Map<string, { record: DynamoDBRecord; readAt: number }[]>();
  private readonly busy = new Set<string>();
  private running = false;
  private loops: Promise<void>[] = [];
  /** When the reader last read something, or started. */
  private lastRecordAt = 0;
  /** When the reader last finished a read that found nothing. */
  private idleSince = 0;

  constructor(
    private readonly streams: DynamoDBStreamsClient,
    private readonly streamArn: string,
    private readonly mappings: readonly StreamMapping[],
    private readonly pollIntervalMs = 200,
    private readonly chaos?: PumpChaos,
  ) {
    for (const m of mappings) this.pending.set(m.name, []);
  }

  /** Starts reading from the beginning of the stream (TRIM_HORIZON); each mapping delivers on its own, as separate ESMs do. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.lastRecordAt = Date.now();
    this.loops = [this.readLoop(), ...this.mappings.map((m) => this.deliveryLoop(m))];
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /**
   * Resolves once every record written before the call has been read and handled (or given up
   * on): nothing pending or in flight, and the stream quiet for `quietMs` (DynamoDB Local makes
   * a write visible on the stream a moment after it returns).
   */
  async drain(timeoutMs = 30_000, quietMs = 400): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const mark = Date.now();
    for (;;) {
      const now = Date.now();
      const empty = [...this.pending.values()].every((q) => q.length === 0) && this.busy.size === 0;
      if (empty && this.idleSince > mark && now - this.lastRecordAt >= quietMs && now - mark >= quietMs) return;
      if (now > deadline) throw new Error("stream pump did not drain in time");
      await sleep(20);
    }
  }

  private async readLoop(): Promise<void> {
    let backoffMs = this.pollIntervalMs;
    while (this.running) {
      try {
        const read = await this.readOnce();
        backoffMs = this.pollIntervalMs;
        if (read > 0) {
          this.lastRecordAt = Date.now();
          continue;
        }
        this.idleSince = Date.now();
        await sleep(this.pollIntervalMs);
      } catch {
        // Lambda's poller retries a failed GetRecords; so does this one, backing off.
        this.stats.readErrors++;
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 5_000);
      }
    }
  }

  /** Delivers a mapping's records: a full batch at once, a partial one when its oldest record has waited the batching window. */
  private async deliveryLoop(mapping: StreamMapping): Promise<void> {
    const queue = this.pending.get(mapping.name) ?? [];
    while (this.running || queue.length > 0) {
      const oldest = queue[0];
      const due =
        oldest !== undefined &&
        (queue.length >= mapping.batchSize ||
          Date.now() - oldest.readAt >= mapping.maximumBatchingWindowMs ||
          !this.running);
      if (!due) {
        await sleep(Math.min(50, this.pollIntervalMs));
        continue;
      }
      const batch = queue.splice(0, mapping.batchSize).map((p) => p.record);
      this.busy.add(mapping.name);
      try {
        await this.invokeWithRetries(mapping, this.maybeReorder(batch), 0);
        if (this.roll(this.chaos?.redeliverRate)) {
          this.stats.redelivered++;
          await this.invokeWithRetries(mapping, batch, 0);
        }
      } finally {
        this.busy.delete(mapping.name);
      }
    }
  }

  private roll(rate: number | undefined): boolean {
    return rate !== undefined && rate > 0 && (this.chaos?.random ?? Math.random)() < rate;
  }

  private maybeReorder(batch: DynamoDBRecord[]): DynamoDBRecord[] {
    if (batch.length < 2 || !this.roll(this.chaos?.reorderRate)) return batch;
    this.stats.reordered++;
    const random = this.chaos?.random ?? Math.random;
    const shuffled = [...batch];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j] as DynamoDBRecord, shuffled[i] as DynamoDBRecord];
    }
    return shuffled;
  }
  private async refreshShards(): Promise<void> {
    let exclusiveStartShardId: string | undefined;
    do {
      const { StreamDescription } = await this.streams.send(
        new DescribeStreamCommand({ StreamArn: this.streamArn, ExclusiveStartShardId: exclusiveStartShardId }),
      );
      for (const shard of StreamDescription?.Shards ?? []) {
        if (shard.ShardId === undefined || this.iterators.has(shard.ShardId)) continue;
        this.iterators.set(shard.ShardId, await this.iteratorFor(shard.ShardId));
      }
      exclusiveStartShardId = StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStartShardId !== undefined);
  }

  /** A fresh iterator: after the last record read from the shard, or from its start. */
  private async iteratorFor(shardId: string): Promise<string | undefined> {
    const after = this.lastSequence.get(shardId);
    const { ShardIterator } = await this.streams.send(
      new GetShardIteratorCommand({
        StreamArn: this.streamArn,
        ShardId: shardId,
        ...(after === undefined
          ? { ShardIteratorType: "TRIM_HORIZON" as const }
          : { ShardIteratorType: "AFTER_SEQUENCE_NUMBER" as const, SequenceNumber: after }),
      }),
    );
    return ShardIterator;
  }

  private getRecords(iterator: string) {
    return this.streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
  }

  /** Reads what is new on every open shard; returns how many records arrived. */
  private async readOnce(): Promise<number> {
    await this.refreshShards();
    let count = 0;
    for (const [shardId, iterator] of this.iterators) {
      if (iterator === undefined) continue;
      let reply: Awaited<ReturnType<typeof this.getRecords>>;
      try {
        reply = await this.getRecords(iterator);
      } catch (err) {
        // Like Lambda's poller, take a new iterator rather than retry one that stopped working
        // (DynamoDB Local fails every read of some iterators with TrimmedDataAccessException).
        this.iterators.delete(shardId);
        throw err;
      }
      const { Records, NextShardIterator } = reply;
      this.iterators.set(shardId, NextShardIterator);
      const last = Records?.at(-1)?.dynamodb?.SequenceNumber;
      if (last !== undefined) this.lastSequence.set(shardId, last);
      for (const raw of Records ?? []) {
        const record = toLambdaRecord(raw, this.streamArn);
        count++;
        const readAt = Date.now();
        for (const m of this.mappings) {
          if (passesFilters(m.filterPatterns, record)) this.pending.get(m.name)?.push({ record, readAt });
        }
      }
    }
    this.stats.recordsRead += count;
    return count;
  }

  private async invokeWithRetries(mapping: StreamMapping, records: DynamoDBRecord[], attempt: number): Promise<void> {
    if (records.length === 0) return;
    this.stats.invocations++;
    let response: DynamoDBBatchResponse | undefined;
    let error: unknown;
    try {
      response = (await mapping.invoke({ Records: records })) ?? undefined;
    } catch (err) {
      error = err;
    }
    if (error === undefined) {
      const failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      if (failed.size === 0) return;
      // Lambda checkpoints before the lowest failed sequence number and retries from there.
      const first = records.findIndex((r) => failed.has(r.dynamodb?.SequenceNumber ?? ""));
      const rest = first < 0 ? records : records.slice(first);
      return this.retryOrDiscard(mapping, rest, attempt, "partial batch failure");
    }
    this.stats.failedInvocations++;
    if (mapping.bisectBatchOnFunctionError && records.length > 1 && attempt < mapping.maximumRetryAttempts) {
      const half = Math.ceil(records.length / 2);
      await this.invokeWithRetries(mapping, records.slice(0, half), attempt + 1);
      await this.invokeWithRetries(mapping, records.slice(half), attempt + 1);
      return;
    }
    return this.retryOrDiscard(mapping, records, attempt, error instanceof Error ? error.name : "function error");
  }

  private async retryOrDiscard(
    mapping: StreamMapping,
    records: DynamoDBRecord[],
    attempt: number,
    reason: string,
  ): Promise<void> {
    if (attempt >= mapping.maximumRetryAttempts) {
      this.stats.recordsDiscarded += records.length;
      mapping.onFailure?.(records, reason);
      return;
    }
    await sleep(Math.min(1_000, 50 * 2 ** attempt));
    await this.invokeWithRetries(mapping, records, attempt + 1);
  }
}
