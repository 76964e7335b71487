/**
 * The DynamoDB stream event source mappings of serverless.yml, wired to the local functions
 * through StreamPump: same filters, batch sizes, bisect and retry settings, and Lambda's rule
 * that a batch response's item failures count only with ReportBatchItemFailures. Records given
 * up on go to the on-failure destination, here a log file. Once the run is stopping, records
 * are acknowledged without an invocation, so shutting down neither retries nor "fails" them.
 */
import { appendFileSync } from "node:fs";
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import type { StreamMapping } from "../stream-pump.js";
import type { FunctionSpec } from "./serverless-mappings.js";

/** A function a mapping invokes. */
export interface StreamTarget {
  name: string;
  invoke(event: unknown): Promise<unknown>;
}

/** Records sent to the on-failure destination, for the display and summary. */
export interface StreamFailures {
  records: number;
  batches: number;
}

function asBatchResponse(value: unknown): DynamoDBBatchResponse | undefined {
  if (typeof value !== "object" || value === null || !("batchItemFailures" in value)) return undefined;
  return value as DynamoDBBatchResponse;
}

/**
 * One StreamMapping per `stream` event of each function. `failureLog` receives one JSON line per
 * batch given up on (what AWS would put on the failure queue: the function, the reason, the
 * sequence number range and the keys, never the images).
 */
export function streamMappings(
  specs: readonly FunctionSpec[],
  targets: ReadonlyMap<string, StreamTarget>,
  failureLog: string,
  failures: StreamFailures,
  stopping: () => boolean = () => false,
): StreamMapping[] {
  return specs.flatMap((spec) =>
    spec.streams.map((stream, i): StreamMapping => {
      const target = targets.get(spec.name);
      if (target === undefined) throw new Error(`no function ${spec.name} to map the stream to`);
      return {
        name: spec.streams.length > 1 ? `${spec.name}#${i + 1}` : spec.name,
        filterPatterns: stream.filterPatterns,
        batchSize: stream.batchSize,
        maximumBatchingWindowMs: stream.maximumBatchingWindowMs,
        bisectBatchOnFunctionError: stream.bisectBatchOnFunctionError,
        maximumRetryAttempts: stream.maximumRetryAttempts,
        invoke: async (event: DynamoDBStreamEvent) => {
          // The run is ending: let the pump drain without retrying into functions that are gone.
          if (stopping()) return { batchItemFailures: [] };
          const response = asBatchResponse(await target.invoke(event));
          return stream.reportBatchItemFailures ? response : undefined;
        },
        onFailure: (records: DynamoDBRecord[], reason: string) => {
          failures.records += records.length;
          failures.batches++;
          const line = {
            time: new Date().toISOString(),
            function: spec.name,
            reason,
            firstSequenceNumber: records[0]?.dynamodb?.SequenceNumber,
            lastSequenceNumber: records.at(-1)?.dynamodb?.SequenceNumber,
            keys: records.map((r) => r.dynamodb?.Keys?.uuid?.S),
          };
          appendFileSync(failureLog, `${JSON.stringify(line)}\n`);
        },
      };
    }),
  );
}
