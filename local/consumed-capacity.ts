import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";

/** Capacity a DynamoDB client has consumed, as its replies report it (ReturnConsumedCapacity). */
export interface ConsumedCapacity {
  /** Successful writes (PutItem, UpdateItem, DeleteItem); a failed condition is not one. */
  writes: number;
  writeCapacityUnits: number;
  readCapacityUnits: number;
}

const writeCommands = new Set(["PutItemCommand", "UpdateItemCommand", "DeleteItemCommand"]);

/**
 * Meters a client for benchmarks and tests: every reply's ConsumedCapacity is added to the
 * returned counters. The store asks for it on every call, so nothing in lib/ keeps counters
 * that only a benchmark reads.
 */
export function meterConsumedCapacity(ddb: DynamoDBClient): ConsumedCapacity {
  const usage: ConsumedCapacity = { writes: 0, writeCapacityUnits: 0, readCapacityUnits: 0 };
  ddb.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const output = result.output as { ConsumedCapacity?: { CapacityUnits?: number } | { CapacityUnits?: number }[] };
      const consumed = [output.ConsumedCapacity ?? []].flat();
      const units = consumed.reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
      if (writeCommands.has(context.commandName ?? "")) {
        usage.writes += 1;
        usage.writeCapacityUnits += units;
      } else {
        usage.readCapacityUnits += units;
      }
      return result;
    },
    { step: "initialize", name: "meterConsumedCapacity" },
  );
  return usage;
}
