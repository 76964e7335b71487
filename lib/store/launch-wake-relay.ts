import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from "@aws-sdk/client-dynamodb";
import type { LaunchWakeRelay, WakeReason } from "../model/ticks.js";
import { metaKey } from "./item-codec.js";

/**
 * Builds the write that relays a launch wake-up: `#launch-wake` stamped with the time and reason.
 * Its stream record is what launch's event source mapping matches (serverless.yml), so a pass
 * starts without a queue of launch's own. Never back in time: an older relay that comes late
 * changes nothing (and starts no pass).
 */
export function relayWakeRequest(table: string, reason: WakeReason, nowMs: number): UpdateItemCommandInput {
  return {
    TableName: table,
    Key: { uuid: { S: metaKey.launchWake } },
    UpdateExpression: "SET #firedAt = :now, #reason = :reason",
    ConditionExpression: "attribute_not_exists(#firedAt) OR #firedAt < :now",
    ExpressionAttributeNames: { "#firedAt": "firedAt", "#reason": "reason" },
    ExpressionAttributeValues: { ":now": { N: String(nowMs) }, ":reason": { S: reason } },
  };
}

/** A LaunchWakeRelay on the queue table: one write on `#launch-wake` per relayed wake-up. */
export class TableLaunchWakeRelay implements LaunchWakeRelay {
  constructor(
    private readonly ddb: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async relay(reason: WakeReason, nowMs: number): Promise<boolean> {
    try {
      await this.ddb.send(
        new UpdateItemCommand({ ...relayWakeRequest(this.tableName, reason, nowMs), ReturnConsumedCapacity: "TOTAL" }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }
}
