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
  readonly stats: PumpStats = { recordsRead: 0, invocations: 0, failedInvocations: 0, recordsDiscarded: 0 };
  private readonly iterators = new Map<string, string | undefined>();
  private readonly pending = new Map<string, DynamoDBRecord[]>();
  private running = false;
  private loop: Promise<void> | undefined;
  private idleSince = 0;

  constructor(
    private readonly streams: DynamoDBStreamsClient,
    private readonly streamArn: string,
    private readonly mappings: readonly StreamMapping[],
    private readonly pollIntervalMs = 200,
  ) {
    for (const m of mappings) this.pending.set(m.name, []);
  }

  /** Starts reading from the beginning of the stream (TRIM_HORIZON). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Resolves once every record written so far has been read and handled (or given up on). */
  async drain(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const mark = Date.now();
    while (!(this.idleSince > mark)) {
      if (Date.now() > deadline) throw new Error("stream pump did not drain in time");
      await sleep(20);
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      const read = await this.readOnce();
      for (const mapping of this.mappings) await this.deliver(mapping);
      if (read === 0) {
        this.idleSince = Date.now();
        await sleep(this.pollIntervalMs);
      }
    }
  }

  private async refreshShards(): Promise<void> {
    let exclusiveStartShardId: string | undefined;
    do {
      const { StreamDescription } = await this.streams.send(
        new DescribeStreamCommand({ StreamArn: this.streamArn, ExclusiveStartShardId: exclusiveStartShardId }),
      );
      for (const shard of StreamDescription?.Shards ?? []) {
        if (shard.ShardId === undefined || this.iterators.has(shard.ShardId)) continue;
        const { ShardIterator } = await this.streams.send(
          new GetShardIteratorCommand({
            StreamArn: this.streamArn,
            ShardId: shard.ShardId,
            ShardIteratorType: "TRIM_HORIZON",
          }),
        );
        this.iterators.set(shard.ShardId, ShardIterator);
      }
      exclusiveStartShardId = StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStartShardId !== undefined);
  }

  /** Reads what is new on every open shard; returns how many records arrived. */
  private async readOnce(): Promise<number> {
    await this.refreshShards();
    let count = 0;
    for (const [shardId, iterator] of this.iterators) {
      if (iterator === undefined) continue;
      const { Records, NextShardIterator } = await this.streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      this.iterators.set(shardId, NextShardIterator);
      for (const raw of Records ?? []) {
        const record = toLambdaRecord(raw, this.streamArn);
        count++;
        for (const m of this.mappings) if (passesFilters(m.filterPatterns, record)) this.pending.get(m.name)?.push(record);
      }
    }
    this.stats.recordsRead += count;
    return count;
  }

  private async deliver(mapping: StreamMapping): Promise<void> {
    const queue = this.pending.get(mapping.name) ?? [];
    while (queue.length > 0) {
      const batch = queue.splice(0, mapping.batchSize);
      await this.invokeWithRetries(mapping, batch, 0);
    }
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

  private async retryOrDiscard(mapping: StreamMapping, records: DynamoDBRecord[], attempt: number, reason: string): Promise<void> {
    if (attempt >= mapping.maximumRetryAttempts) {
      this.stats.recordsDiscarded += records.length;
      mapping.onFailure?.(records, reason);
      return;
    }
    await sleep(Math.min(1_000, 50 * 2 ** attempt));
    await this.invokeWithRetries(mapping, records, attempt + 1);
  }
}
