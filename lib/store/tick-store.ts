import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from "@aws-sdk/client-dynamodb";
import { metaKey } from "./item-codec.js";
import type { TickChain, TickChainState, TickClaim, TickClaimInput } from "../model/ticks.js";
import { claimTickOnlyRequest, claimTickRequest } from "./tick-requests.js";

/**
 * A TickStore is the tick chain's state on the `#queue` item: claims (each a conditional write, so
 * of several deliveries of one tick exactly one claims it) and the update's closing write.
 */
export class TickStore implements TickChain {
  constructor(
    private readonly ddb: DynamoDBClient,
    readonly tableName: string,
  ) {}

  /**
   * How many cached containers the last successful update left Queued or Locked; undefined before
   * the first tick. One eventually consistent read of `#queue` (half a read unit): the launch sweep
   * skips its pass when nothing waits.
   */
  async waiting(): Promise<number | undefined> {
    const { Item } = await this.ddb.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { uuid: { S: metaKey.queue } },
        ProjectionExpression: "#w",
        ExpressionAttributeNames: { "#w": "waitingEntries" },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    const n = Item?.waitingEntries?.N;
    return n === undefined ? undefined : Number(n);
  }

  /** The chain's generation and due time (one consistent read of `#queue`). */
  async chain(): Promise<TickChainState> {
    const { Item } = await this.ddb.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { uuid: { S: metaKey.queue } },
        ConsistentRead: true,
        ProjectionExpression: "#g, #d",
        ExpressionAttributeNames: { "#g": "tickGeneration", "#d": "tickDueBy" },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    const generation = Number(Item?.tickGeneration?.N ?? 0);
    const dueBy = Item?.tickDueBy?.N;
    return { generation, ...(dueBy === undefined ? {} : { dueByMs: Number(dueBy) }) };
  }

  /**
   * Claims tick `generation` with the update lease (closing the update that sent it, if `done`);
   * if only the threshold stood in the way, claims without closing; if only the lease did, claims
   * the generation alone (the chain must go on while a slow update runs). One write in the
   * common case.
   */
  async claim(input: TickClaimInput): Promise<TickClaim> {
    let attributes: Record<string, { N?: string }> | undefined;
    const keep = (a: Record<string, { N?: string }> | undefined) => {
      attributes = a;
    };
    let failed = await this.tryUpdate({ ...claimTickRequest(this.tableName, input), ReturnValues: "ALL_NEW" }, keep);
    const newer = (item: Record<string, { S?: string }>, started: string) => (item.threshold?.S ?? "") >= started;
    if (
      failed !== undefined &&
      input.done !== undefined &&
      generationMatches(failed, input.generation) &&
      newer(failed, input.done.startedAt)
    ) {
      // A newer threshold is stored already (a watchdog restart's update): claim without closing.
      failed = await this.tryUpdate(
        { ...claimTickRequest(this.tableName, input, false), ReturnValues: "ALL_NEW" },
        keep,
      );
    }
    if (failed === undefined) {
      const shards = attributes?.indexShards?.N;
      return { claim: "claimed", ...(shards === undefined ? {} : { indexShards: Number(shards) }) };
    }
    if (!generationMatches(failed, input.generation)) return { claim: "stale" };
    return (await this.tryUpdate(claimTickOnlyRequest(this.tableName, input))) === undefined
      ? { claim: "claimedLeaseHeld" }
      : { claim: "stale" };
  }

  /** Sends a conditional write; undefined on success, else the item as it was (possibly empty). */
  private async tryUpdate(
    input: UpdateItemCommandInput,
    onWritten: (attributes: Record<string, { N?: string; S?: string }> | undefined) => void = () => undefined,
  ): Promise<Record<string, { N?: string; S?: string }> | undefined> {
    try {
      const out = await this.ddb.send(new UpdateItemCommand({ ...input, ReturnConsumedCapacity: "TOTAL" }));
      onWritten(out.Attributes as Record<string, { N?: string; S?: string }> | undefined);
      return undefined;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException)
        return (err.Item ?? {}) as Record<string, { N?: string; S?: string }>;
      throw err;
    }
  }
}

function generationMatches(item: Record<string, { N?: string }>, generation: number): boolean {
  const held = item.tickGeneration?.N;
  return held === undefined || Number(held) === generation;
}
