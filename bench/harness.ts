/**
 * The benchmarks' shared harness: DynamoDB Local started once per run on loopback, fresh queue
 * tables, a meter that classifies every DynamoDB write the code under test makes, and a
 * table printer. Benchmarks print figures; nothing here asserts on time.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { availableParallelism, cpus, totalmem } from "node:os";
import { type AttributeValue, DeleteTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { type DynamoDbLocal, startDynamoDbLocal } from "../local/dynamodb-local.js";
import { ensureQueueTable } from "../local/queue-table.js";

/** One benchmark: a name to filter on and a body that prints its own tables. */
export interface Benchmark {
  name: string;
  title: string;
  /** Whether it needs DynamoDB Local (started once, lazily, for every benchmark that does). */
  needsDynamoDb: boolean;
  run(services: Services): Promise<void>;
}

/** What the run provides to each benchmark. */
export interface Services {
  /** DynamoDB Local's endpoint; throws for a benchmark that declared it does not need one. */
  dynamoDbEndpoint(): string;
}

/** Starts DynamoDB Local on a free loopback port. */
export async function startServices(needDynamoDb: boolean): Promise<Services & { stop(): Promise<void> }> {
  const dynamo: DynamoDbLocal | undefined = needDynamoDb ? await startDynamoDbLocal() : undefined;
  return {
    dynamoDbEndpoint: () => {
      if (dynamo === undefined) throw new Error("DynamoDB Local was not started for this benchmark");
      return dynamo.endpoint;
    },
    stop: async () => {
      await dynamo?.stop();
    },
  };
}

/** A DynamoDB client for DynamoDB Local (dummy credentials; loopback only). */
export function localDynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
}

/** A fresh queue table created from infra/queue-table.yml, and a way to drop it. */
export async function freshQueueTable(
  ddb: DynamoDBClient,
  prefix = "bench",
): Promise<{ tableName: string; drop(): Promise<void> }> {
  const tableName = `${prefix}-${randomUUID()}`;
  await ensureQueueTable(ddb, tableName);
  return {
    tableName,
    drop: async () => {
      await ddb.send(new DeleteTableCommand({ TableName: tableName }));
    },
  };
}

/** Writes seen by a WriteMeter, split by the kind of item written. */
export interface WriteCounts {
  /** Writes to container items that took effect. */
  containerWrites: number;
  containerWcu: number;
  /** Writes to `#`-keyed meta items (lease, threshold, shared state) that took effect. */
  metaWrites: number;
  metaWcu: number;
  /** Writes refused by their condition (ConditionalCheckFailedException). */
  conditionalFailures: number;
  /** Every DynamoDB call, by command name. */
  calls: Record<string, number>;
}

const writeCommands = new Set(["PutItemCommand", "UpdateItemCommand", "DeleteItemCommand"]);

interface KeyedInput {
  Key?: Record<string, AttributeValue>;
  Item?: Record<string, AttributeValue>;
}

/**
 * A WriteMeter watches one DynamoDB client (a middleware, so the code under test is unchanged)
 * and counts each write by the item it targets: a container item or a `#` meta item. WCU comes
 * from ReturnConsumedCapacity where the caller asked for it.
 */
export class WriteMeter {
  private counts: WriteCounts = emptyCounts();

  constructor(ddb: DynamoDBClient) {
    ddb.middlewareStack.add(
      (next, context) => async (args) => {
        const command = context.commandName ?? "unknown";
        this.counts.calls[command] = (this.counts.calls[command] ?? 0) + 1;
        if (!writeCommands.has(command)) return next(args);
        const input = args.input as KeyedInput;
        const key = input.Key?.uuid?.S ?? input.Item?.uuid?.S ?? "";
        const meta = key.startsWith("#");
        try {
          const result = await next(args);
          const output = result.output as { ConsumedCapacity?: { CapacityUnits?: number } };
          const wcu = output.ConsumedCapacity?.CapacityUnits ?? 0;
          if (meta) {
            this.counts.metaWrites++;
            this.counts.metaWcu += wcu;
          } else {
            this.counts.containerWrites++;
            this.counts.containerWcu += wcu;
          }
          return result;
        } catch (err) {
          if (err instanceof Error && err.name === "ConditionalCheckFailedException") this.counts.conditionalFailures++;
          throw err;
        }
      },
      { step: "initialize", name: "benchWriteMeter" },
    );
  }

  /** The counts since the last reset, and start counting afresh. */
  take(): WriteCounts {
    const counts = this.counts;
    this.counts = emptyCounts();
    return counts;
  }
}

function emptyCounts(): WriteCounts {
  return { containerWrites: 0, containerWcu: 0, metaWrites: 0, metaWcu: 0, conditionalFailures: 0, calls: {} };
}

/** Runs `fn` and returns its result with the wall time in seconds. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; result: T }> {
  const start = process.hrtime.bigint();
  const result = await fn();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, result };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A number with a fixed count of decimals, or "-" when it is not one. */
export function fixed(n: number | undefined, decimals = 2): string {
  return n === undefined || !Number.isFinite(n) ? "-" : n.toFixed(decimals);
}

/** Prints a heading and a Markdown table with aligned columns (so it pastes into the README as is). */
export function printTable(
  title: string,
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): void {
  const text = rows.map((row) => row.map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((row) => (row[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  console.log(`\n${title}\n`);
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i === 0 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`);
  for (const row of text) console.log(line(row));
}

/** Prints a note under a table. */
export function note(text: string): void {
  console.log(`\n${text}`);
}

/** The machine the figures come from. */
export function environmentFacts(): [string, string][] {
  const java = spawnSync("java", ["-version"], { encoding: "utf8" });
  const javaVersion = /version "([^"]+)"/.exec(java.stderr ?? "")?.[1] ?? "not found";
  return [
    ["date", new Date().toISOString()],
    ["node", process.version],
    ["platform", `${process.platform} ${process.arch}`],
    ["cores (availableParallelism)", String(availableParallelism())],
    ["cpu", cpus()[0]?.model ?? "unknown"],
    ["memory", `${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ["java (DynamoDB Local)", javaVersion],
  ];
}
