import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from "@aws-sdk/client-dynamodb";
import type { WakeSchedule } from "../model/ticks.js";
import { metaKey } from "./item-codec.js";

/**
 * Record that a launch wake-up is due at `atMs`, unless one is already pending at or before it:
 * passes that stop on the same window (a stream batch each) then send one message, not one each.
 * A pending wake whose time has passed (delivered, or lost: the sweep covers it) no longer counts.
 */
export function scheduleWakeRequest(table: string, atMs: number, nowMs: number): UpdateItemCommandInput {
  return {
    TableName: table,
    Key: { uuid: { S: metaKey.launchPass } },
    UpdateExpression: "SET #wakeAt = :at",
    ConditionExpression: "attribute_not_exists(#wakeAt) OR #wakeAt < :now OR #wakeAt > :at",
    ExpressionAttributeNames: { "#wakeAt": "wakeAt" },
    ExpressionAttributeValues: { ":at": { N: String(atMs) }, ":now": { N: String(nowMs) } },
  };
}

/** LaunchWakes keeps launch's pending wake-up time on the `#launch-pass` item. */
export class LaunchWakes implements WakeSchedule {
  constructor(
    private readonly ddb: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  /** True when this caller should send the wake-up (none pending at or before `atMs`). */
  async schedule(atMs: number, nowMs: number): Promise<boolean> {
    try {
      await this.ddb.send(
        new UpdateItemCommand({ ...scheduleWakeRequest(this.tableName, atMs, nowMs), ReturnConsumedCapacity: "TOTAL" }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }
}
