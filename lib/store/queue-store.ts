import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DeleteItemCommandInput,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type PutItemCommandInput,
  ScanCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { ContainerStateChange, QueuedContainer } from "../model/container.js";
import { isFinalState } from "../model/container.js";
import type { InstanceResources, LaunchIntent, LaunchRecord, QueueEntry, TypeDecision } from "../model/entry.js";
import { StaleEntryError } from "../model/stale-entry.js";
import { itemToEntry, metaKey } from "./item-codec.js";
import {
  acquireLeaseRequest,
  claimEntryRequest,
  releaseEntryRequest,
  applyStateChangeRequest,
  clearLaunchIntentRequest,
  clearLaunchRequest,
  deleteAbsentEntryRequest,
  finishedEntryTtlSeconds,
  forgetRequest,
  putNewEntryRequest,
  recordLaunchRequest,
  releaseLeaseRequest,
  writeLaunchIntentRequest,
  replacePolledContainerRequest,
  setInstanceTypesRequest,
  setSchedulingStatusRequest,
  setThresholdRequest,
} from "./requests.js";

/** The `#queue` meta item: freshness threshold and the dispatcher's token uuid. */
export interface QueueMeta {
  /** ISO start time of the last successful update, or undefined before the first. */
  threshold?: string;
  tokenUuid?: string;
  leaseOwner?: string;
  leaseUntil?: number;
  /** Shards of the queue index when it is whole (lib/store/queue-index.ts); absent otherwise. */
  indexShards?: number;
}

/** Whether a conditional write took effect; `false` means its condition did not hold. */
export type WriteOutcome = boolean;

/**
 * A QueueStore is the queue table seen through the queue's operations. It is the only module
 * that knows the table's key layout. Every state change is a conditional write; a failed
 * condition is returned as `false` (or a StaleEntryError where the caller must not go on),
 * never as a raw SDK error.
 */
export class QueueStore {
  constructor(
    private readonly ddb: DynamoDBClient,
    readonly tableName: string,
  ) {}

  /** One entry, read strongly consistently; undefined if absent. */
  async get(uuid: string): Promise<QueueEntry | undefined> {
    const { Item } = await this.ddb.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { uuid: { S: uuid } },
        ConsistentRead: true,
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    return Item === undefined ? undefined : itemToEntry(Item);
  }

  /**
   * Every entry plus the queue meta item, read with a parallel consistent scan. The threshold
   * is read before the entries, so every entry is at least as fresh as the threshold says.
   */
  async scan(segments = 4): Promise<{
    entries: Map<string, QueueEntry>;
    meta: QueueMeta;
    metaItems: Map<string, Record<string, unknown>>;
    /** Live entries written before the `active` mark existed: an update rewrites them (see Queue). */
    unmarked: Set<string>;
  }> {
    const meta = await this.meta();
    const entries = new Map<string, QueueEntry>();
    const metaItems = new Map<string, Record<string, unknown>>();
    const unmarked = new Set<string>();
    await Promise.all(
      Array.from({ length: segments }, async (_, segment) => {
        let startKey: Record<string, AttributeValue> | undefined;
        do {
          const page = await this.ddb.send(
            new ScanCommand({
              TableName: this.tableName,
              ConsistentRead: true,
              Segment: segment,
              TotalSegments: segments,
              ExclusiveStartKey: startKey,
              ReturnConsumedCapacity: "TOTAL",
            }),
          );
          for (const item of page.Items ?? []) {
            const entry = itemToEntry(item);
            if (entry !== undefined) {
              entries.set(entry.container.uuid, entry);
              if (item.active === undefined && !isFinalState(entry.container.state)) unmarked.add(entry.container.uuid);
            } else if (item.uuid?.S !== undefined) metaItems.set(item.uuid.S, unmarshall(item));
          }
          startKey = page.LastEvaluatedKey;
        } while (startKey !== undefined);
      }),
    );
    return { entries, meta, metaItems, unmarked };
  }

  /** The `#queue` meta item (threshold, token uuid, update lease). */
  async meta(): Promise<QueueMeta> {
    const item = await this.getMetaItem(metaKey.queue);
    return (item ?? {}) as QueueMeta;
  }

  /** Any `#`-keyed meta item as plain data. */
  async getMetaItem(key: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.ddb.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { uuid: { S: key } },
        ConsistentRead: true,
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    if (Item === undefined) return undefined;
    const { uuid: _uuid, ...rest } = unmarshall(Item);
    return rest;
  }

  /** Insert a newly seen container; false if an entry already exists. */
  insertNew(entry: QueueEntry): Promise<WriteOutcome> {
    return this.put(putNewEntryRequest(this.tableName, entry));
  }

  /** Apply a polled record unless a local change since `updateStartedAt` wins; false if it did. */
  replacePolled(container: QueuedContainer, updateStartedAt: string, nowMs: number): Promise<WriteOutcome> {
    return this.update(
      replacePolledContainerRequest(
        this.tableName,
        container,
        updateStartedAt,
        this.expiryIfFinished(container.state, nowMs),
      ),
    );
  }

  /**
   * replacePolled, telling apart the two reasons a replace does not happen: a local change won
   * ("localChange") or the entry is gone ("absent", e.g. forgotten), which the queue index needs.
   */
  async replacePolledOutcome(
    container: QueuedContainer,
    updateStartedAt: string,
    nowMs: number,
  ): Promise<"written" | "localChange" | "absent"> {
    const input = replacePolledContainerRequest(
      this.tableName,
      container,
      updateStartedAt,
      this.expiryIfFinished(container.state, nowMs),
    );
    try {
      await this.ddb.send(
        new UpdateItemCommand({
          ...input,
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      return "written";
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return err.Item === undefined ? "absent" : "localChange";
      throw err;
    }
  }

  /** Remove an entry the poll no longer returns unless a local change since `updateStartedAt` wins. */
  deleteAbsent(uuid: string, updateStartedAt: string): Promise<WriteOutcome> {
    return this.delete(deleteAbsentEntryRequest(this.tableName, uuid, updateStartedAt));
  }

  /** §1.4 Forget; false (a no-op) unless the entry is Complete, Cancelled, or Queued with priority 0. */
  forget(uuid: string): Promise<WriteOutcome> {
    return this.delete(forgetRequest(this.tableName, uuid));
  }

  /** §1.9 apply a Lock/Unlock/Cancel response to a cached entry; undefined if the entry is absent. */
  async applyStateChange(change: ContainerStateChange, changedAt: Date): Promise<QueueEntry | undefined> {
    try {
      const out = await this.ddb.send(
        new UpdateItemCommand({
          ...applyStateChangeRequest(
            this.tableName,
            change,
            changedAt.toISOString(),
            this.expiryIfFinished(change.state, changedAt.getTime()),
          ),
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      return out.Attributes === undefined ? undefined : itemToEntry(out.Attributes);
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return undefined;
      throw err;
    }
  }

  /** Record chosen types once; false if the entry is gone or already has types (a redelivery). */
  setInstanceTypes(
    uuid: string,
    typeNames: readonly string[],
    resources: InstanceResources,
    decision: TypeDecision,
  ): Promise<WriteOutcome> {
    return this.update(setInstanceTypesRequest(this.tableName, uuid, typeNames, resources, decision));
  }

  /**
   * Store a waiting entry's scheduling status (see setSchedulingStatusRequest); false when it
   * was already that, or the entry is gone or no longer Queued or Locked.
   */
  setSchedulingStatus(uuid: string, status: string): Promise<WriteOutcome> {
    return this.update(setSchedulingStatusRequest(this.tableName, uuid, status));
  }

  /**
   * Write the intent of the RunInstances call about to be sent (see writeLaunchIntentRequest);
   * throws StaleEntryError when another invocation holds the claim, an instance is recorded for
   * this lock, or another call of this lock may have started one: then no call may be sent.
   */
  async writeLaunchIntent(uuid: string, owner: string, intent: LaunchIntent, replaces?: string): Promise<void> {
    if (!(await this.update(writeLaunchIntentRequest(this.tableName, uuid, owner, intent, replaces)))) {
      throw new StaleEntryError(uuid, "writeLaunchIntent");
    }
  }

  /** Remove the intent of a call EC2 said started nothing; false if the entry holds another (or none). */
  clearLaunchIntent(uuid: string, owner: string, clientToken: string): Promise<WriteOutcome> {
    return this.update(clearLaunchIntentRequest(this.tableName, uuid, owner, clientToken));
  }

  /** Record the launched instance (and drop its intent); throws StaleEntryError if one is already recorded for this attempt. */
  async recordLaunch(uuid: string, launch: LaunchRecord): Promise<void> {
    if (!(await this.update(recordLaunchRequest(this.tableName, uuid, launch)))) {
      throw new StaleEntryError(uuid, "recordLaunch");
    }
  }

  /** Drop the launch record for `instanceId`; false if the entry records another instance. */
  clearLaunch(uuid: string, instanceId: string): Promise<WriteOutcome> {
    return this.update(clearLaunchRequest(this.tableName, uuid, instanceId));
  }

  /** Take the update lease; false if another live invocation holds it. */
  acquireUpdateLease(owner: string, nowMs: number, leaseMs: number): Promise<WriteOutcome> {
    return this.update(acquireLeaseRequest(this.tableName, metaKey.queue, owner, nowMs, leaseMs));
  }

  releaseUpdateLease(owner: string): Promise<WriteOutcome> {
    return this.update(releaseLeaseRequest(this.tableName, metaKey.queue, owner));
  }

  /** Take the launch-pass lease; false if another launch invocation is planning. */
  acquireLaunchPassLease(owner: string, nowMs: number, leaseMs: number): Promise<WriteOutcome> {
    return this.update(acquireLeaseRequest(this.tableName, metaKey.launchPass, owner, nowMs, leaseMs));
  }

  releaseLaunchPassLease(owner: string): Promise<WriteOutcome> {
    return this.update(releaseLeaseRequest(this.tableName, metaKey.launchPass, owner));
  }

  /** Claim an entry for one launch; false if absent or claimed by another live invocation. */
  claimEntry(uuid: string, owner: string, nowMs: number, leaseMs: number): Promise<WriteOutcome> {
    return this.update(claimEntryRequest(this.tableName, uuid, owner, nowMs, leaseMs));
  }

  releaseEntry(uuid: string, owner: string): Promise<WriteOutcome> {
    return this.update(releaseEntryRequest(this.tableName, uuid, owner));
  }

  /** Advance the threshold to a successful update's start; false if not the lease holder or not newer. */
  setThreshold(owner: string, updateStartedAt: string, tokenUuid: string): Promise<WriteOutcome> {
    return this.update(setThresholdRequest(this.tableName, owner, updateStartedAt, tokenUuid));
  }

  private expiryIfFinished(state: QueuedContainer["state"], nowMs: number): number | undefined {
    return isFinalState(state) ? Math.floor(nowMs / 1000) + finishedEntryTtlSeconds : undefined;
  }

  private async put(input: PutItemCommandInput): Promise<WriteOutcome> {
    return this.conditional(async () => {
      await this.ddb.send(new PutItemCommand({ ...input, ReturnConsumedCapacity: "TOTAL" }));
    });
  }

  private async update(input: UpdateItemCommandInput): Promise<WriteOutcome> {
    return this.conditional(async () => {
      await this.ddb.send(new UpdateItemCommand({ ...input, ReturnConsumedCapacity: "TOTAL" }));
    });
  }

  private async delete(input: DeleteItemCommandInput): Promise<WriteOutcome> {
    return this.conditional(async () => {
      await this.ddb.send(new DeleteItemCommand({ ...input, ReturnConsumedCapacity: "TOTAL" }));
    });
  }

  private async conditional(write: () => Promise<void>): Promise<WriteOutcome> {
    try {
      await write();
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }
}
