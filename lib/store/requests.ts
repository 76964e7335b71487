import type {
  AttributeValue,
  DeleteItemCommandInput,
  PutItemCommandInput,
  UpdateItemCommandInput,
} from "@aws-sdk/client-dynamodb";
import { type ContainerStateChange, isFinalState, type QueuedContainer } from "../model/container.js";
import type { InstanceResources, LaunchIntent, LaunchRecord, QueueEntry, TypeDecision } from "../model/entry.js";
import { entryToItem, metaKey, toAttr } from "./item-codec.js";

/**
 * Pure builders of every write the queue makes. Each returns a complete command input with a
 * condition built from named clauses, so the rule a write depends on is readable and testable
 * without a server; queue-store.ts sends them.
 */

const names = {
  "#uuid": "uuid",
  "#container": "container",
  "#state": "state",
  "#priority": "priority",
  "#lockedBy": "locked_by_uuid",
  "#localChangeAt": "localChangeAt",
  "#version": "version",
  "#instanceTypes": "instanceTypes",
  "#instanceResources": "instanceResources",
  "#typeDecision": "typeDecision",
  "#launch": "launch",
  "#launchIntent": "launchIntent",
  "#attempt": "attempt",
  "#clientToken": "clientToken",
  "#expiresAt": "expiresAt",
  "#threshold": "threshold",
  "#tokenUuid": "tokenUuid",
  "#leaseOwner": "leaseOwner",
  "#leaseUntil": "leaseUntil",
  "#launchLease": "launchLease",
  "#owner": "owner",
  "#until": "until",
  "#schedulingStatus": "schedulingStatus",
  "#statusOnly": "statusOnly",
  "#active": "active",
} as const;
type Name = keyof typeof names;

/** The ExpressionAttributeNames a set of expressions actually uses (DynamoDB rejects unused ones). */
function namesUsedBy(...expressions: (string | undefined)[]): Record<string, string> {
  const text = expressions.join(" ");
  const used: Record<string, string> = {};
  for (const [placeholder, name] of Object.entries(names) as [Name, string][]) {
    if (new RegExp(`${placeholder}\\b`).test(text)) used[placeholder] = name;
  }
  return used;
}

const clause = {
  exists: "attribute_exists(#uuid)",
  absent: "attribute_not_exists(#uuid)",
  // Upstream `dontupdate`: a Lock/Unlock/Cancel made after the poll started wins over its data.
  noLocalChangeSince: "attribute_not_exists(#localChangeAt) OR #localChangeAt < :updateStartedAt",
  // §1.4: only finished entries and Queued entries on hold may be forgotten.
  forgettable:
    "#container.#state IN (:complete, :cancelled) OR (#container.#state = :queued AND #container.#priority = :zero)",
  typesNotChosen: "attribute_not_exists(#instanceTypes)",
  // The writer's own launch claim: no other invocation has taken the entry over.
  claimedByOwner: "#launchLease.#owner = :owner",
  // No instance is recorded for this lock (or a later one).
  noLaunchForAttempt: "attribute_not_exists(#launch) OR #launch.#attempt < :attempt",
  // §3.3: a scheduling status is about a container waiting for an instance.
  waiting: "#container.#state IN (:queued, :locked)",
  statusChanged: "attribute_not_exists(#schedulingStatus) OR #schedulingStatus <> :status",
} as const;

/**
 * The update expression of an entry write other than the scheduling status's: it also removes
 * the status-only mark (see setSchedulingStatusRequest), so the launch stream filter sees the
 * change. `update` is one of ours, with at most one REMOVE clause.
 */
function entryUpdate(update: string): string {
  return update.includes("REMOVE ")
    ? update.replace("REMOVE ", "REMOVE #statusOnly, ")
    : `${update} REMOVE #statusOnly`;
}

/**
 * The update expression of a write launch makes on an entry it holds (its claim, its launch
 * intent): it sets the same mark as the scheduling status does, so the launch stream filter
 * drops the record. Launch knows what it wrote; such a record is no news for a pass, and a burst
 * of launches would otherwise wake launch again once per claim and per intent. The next write
 * of anyone else (the lock's reply, an update, cleanup) removes the mark, as it does a status's.
 */
function launchOwnUpdate(update: string): string {
  return `${update}, #statusOnly = :mark`;
}

/** Joins clauses with AND, each in parentheses (DynamoDB rejects doubled ones, so clauses carry none). */
function and(...clauses: string[]): string {
  return clauses.map((c) => `(${c})`).join(" AND ");
}

const key = (uuid: string) => ({ uuid: { S: uuid } });

/** A conditional UpdateItem on one key, declaring exactly the #names the expressions use. */
function conditionalUpdate(
  table: string,
  itemKey: string,
  update: string,
  condition: string,
  values: Record<string, AttributeValue>,
): UpdateItemCommandInput {
  return {
    TableName: table,
    Key: key(itemKey),
    UpdateExpression: update,
    ConditionExpression: condition,
    ExpressionAttributeNames: namesUsedBy(update, condition),
    ExpressionAttributeValues: values,
  };
}

/**
 * The key of the sparse `active` index (infra/queue-table.yml): present, with this one value, on
 * every entry whose container is Queued, Locked or Running, and on no other item. Written by the
 * writes that set a container's state (insert, polled replace, lock/unlock/cancel), so launch and
 * cleanup Query the live entries instead of scanning finished ones and the meta items.
 */
export const activeMark = "1";

/** The SET or REMOVE of the `active` mark for a container in `state`. */
function activeUpdate(final: boolean): { set?: string; remove?: string } {
  return final ? { remove: "#active" } : { set: "#active = :active" };
}

/** How long a finished entry may linger before DynamoDB's TTL removes it, as a backstop to cleanup. */
export const finishedEntryTtlSeconds = 24 * 3600;

/** Insert a container seen for the first time; never overwrites an existing entry. */
export function putNewEntryRequest(table: string, entry: QueueEntry): PutItemCommandInput {
  return {
    TableName: table,
    Item: {
      ...entryToItem(entry),
      ...(isFinalState(entry.container.state) ? {} : { active: { S: activeMark } }),
    },
    ConditionExpression: clause.absent,
    ExpressionAttributeNames: namesUsedBy(clause.absent),
  };
}

/**
 * Replace the cached container fields with a polled record, unless the entry changed locally
 * since the poll started. A finished container gets a TTL so it cannot linger forever.
 */
export function replacePolledContainerRequest(
  table: string,
  container: QueuedContainer,
  updateStartedAt: string,
  finishedExpiresAt?: number,
): UpdateItemCommandInput {
  const active = activeUpdate(isFinalState(container.state));
  const set = ["#container = :container", "#version = #version + :one"];
  if (finishedExpiresAt !== undefined) set.push("#expiresAt = :expiresAt");
  if (active.set !== undefined) set.push(active.set);
  const update = entryUpdate(`SET ${set.join(", ")}${active.remove === undefined ? "" : ` REMOVE ${active.remove}`}`);
  const condition = and(clause.exists, clause.noLocalChangeSince);
  return conditionalUpdate(table, container.uuid, update, condition, {
    ":container": toAttr(container),
    ":one": { N: "1" },
    ...(active.set === undefined ? {} : { ":active": { S: activeMark } }),
    ":updateStartedAt": { S: updateStartedAt },
    ...(finishedExpiresAt === undefined ? {} : { ":expiresAt": { N: String(finishedExpiresAt) } }),
  });
}

/** Remove an entry the poll no longer returns, unless it changed locally since the poll started. */
export function deleteAbsentEntryRequest(table: string, uuid: string, updateStartedAt: string): DeleteItemCommandInput {
  return {
    TableName: table,
    Key: key(uuid),
    ConditionExpression: clause.noLocalChangeSince,
    ExpressionAttributeNames: namesUsedBy(clause.noLocalChangeSince),
    ExpressionAttributeValues: { ":updateStartedAt": { S: updateStartedAt } },
  };
}

/** §1.4 Forget: delete only a Complete, Cancelled, or Queued-with-priority-0 entry. */
export function forgetRequest(table: string, uuid: string): DeleteItemCommandInput {
  return {
    TableName: table,
    Key: key(uuid),
    ConditionExpression: and(clause.exists, clause.forgettable),
    ExpressionAttributeNames: namesUsedBy(clause.exists, clause.forgettable),
    ExpressionAttributeValues: {
      ":complete": { S: "Complete" },
      ":cancelled": { S: "Cancelled" },
      ":queued": { S: "Queued" },
      ":zero": { N: "0" },
    },
  };
}

/**
 * §1.9 updateWithResp: after a successful Lock/Unlock/Cancel, copy only state, priority and
 * locked_by_uuid into a cached entry (never add one) and stamp the local change time.
 */
export function applyStateChangeRequest(
  table: string,
  change: ContainerStateChange,
  changedAt: string,
  finishedExpiresAt?: number,
): UpdateItemCommandInput {
  const set = [
    "#container.#state = :state",
    "#container.#priority = :priority",
    "#container.#lockedBy = :lockedBy",
    "#localChangeAt = :changedAt",
    "#version = #version + :one",
  ];
  const active = activeUpdate(isFinalState(change.state));
  if (finishedExpiresAt !== undefined) set.push("#expiresAt = :expiresAt");
  if (active.set !== undefined) set.push(active.set);
  const update = entryUpdate(`SET ${set.join(", ")}${active.remove === undefined ? "" : ` REMOVE ${active.remove}`}`);
  return {
    TableName: table,
    Key: key(change.uuid),
    UpdateExpression: update,
    ConditionExpression: clause.exists,
    ExpressionAttributeNames: namesUsedBy(update, clause.exists),
    ExpressionAttributeValues: {
      ":state": { S: change.state },
      ":priority": { N: String(change.priority) },
      ":lockedBy": change.locked_by_uuid === null ? { NULL: true } : { S: change.locked_by_uuid },
      ":changedAt": { S: changedAt },
      ":one": { N: "1" },
      ...(finishedExpiresAt === undefined ? {} : { ":expiresAt": { N: String(finishedExpiresAt) } }),
      ...(active.set === undefined ? {} : { ":active": { S: activeMark } }),
    },
    ReturnValues: "ALL_NEW",
  };
}

/** §1.8/§7.2: record the chosen types once; a redelivered stream record finds them set and changes nothing. */
export function setInstanceTypesRequest(
  table: string,
  uuid: string,
  typeNames: readonly string[],
  resources: InstanceResources,
  decision: TypeDecision,
): UpdateItemCommandInput {
  const update = entryUpdate(
    "SET #instanceTypes = :types, #instanceResources = :resources, #typeDecision = :decision, #version = #version + :one",
  );
  const condition = and(clause.exists, clause.typesNotChosen);
  return conditionalUpdate(table, uuid, update, condition, {
    ":types": toAttr([...typeNames]),
    ":resources": toAttr(resources),
    ":decision": toAttr(decision),
    ":one": { N: "1" },
  });
}

/**
 * Claim an entry for one launch invocation: fails while another invocation's claim is live, so two
 * invocations never lock or launch the same container at once.
 */
export function claimEntryRequest(
  table: string,
  uuid: string,
  owner: string,
  nowMs: number,
  leaseMs: number,
): UpdateItemCommandInput {
  const update = launchOwnUpdate("SET #launchLease = :lease");
  const condition = and(
    clause.exists,
    "attribute_not_exists(#launchLease) OR #launchLease.#until < :now OR #launchLease.#owner = :owner",
  );
  return conditionalUpdate(table, uuid, update, condition, {
    ":mark": { BOOL: true },
    ":lease": { M: { owner: { S: owner }, until: { N: String(nowMs + leaseMs) } } },
    ":now": { N: String(nowMs) },
    ":owner": { S: owner },
  });
}

/** Drop a claim (the launch is done or given up). */
export function releaseEntryRequest(table: string, uuid: string, owner: string): UpdateItemCommandInput {
  const update = entryUpdate("REMOVE #launchLease");
  const condition = clause.claimedByOwner;
  return conditionalUpdate(table, uuid, update, condition, { ":owner": { S: owner } });
}

/**
 * Write the launch intent of the RunInstances call about to be sent (see LaunchIntent). Fails
 * if another invocation now holds the entry's claim, if an instance is already recorded for this
 * lock, or if an intent of this lock with another ClientToken is open: its outcome may be an
 * instance, so only that call may be sent for this lock (the launcher repeats it). Rewriting the
 * same token succeeds (a retried write), and so does `replaces`: the token of the previous call
 * of the same launch, whose failure EC2 confirmed (the §4.3 subnet loop's next subnet).
 */
export function writeLaunchIntentRequest(
  table: string,
  uuid: string,
  owner: string,
  intent: LaunchIntent,
  replaces?: string,
): UpdateItemCommandInput {
  const update = launchOwnUpdate("SET #launchIntent = :intent, #version = #version + :one");
  const sameCall =
    replaces === undefined
      ? "#launchIntent.#clientToken = :token"
      : "#launchIntent.#clientToken IN (:token, :replaces)";
  const noOtherIntent = `attribute_not_exists(#launchIntent) OR #launchIntent.#attempt < :attempt OR ${sameCall}`;
  const condition = and(clause.exists, clause.claimedByOwner, clause.noLaunchForAttempt, noOtherIntent);
  return conditionalUpdate(table, uuid, update, condition, {
    ":intent": toAttr(intent),
    ":mark": { BOOL: true },
    ":one": { N: "1" },
    ":owner": { S: owner },
    ":attempt": { N: String(intent.attempt) },
    ":token": { S: intent.clientToken },
    ...(replaces === undefined ? {} : { ":replaces": { S: replaces } }),
  });
}

/**
 * Remove the launch intent of a call EC2 answered with a failure that proves it started nothing.
 * Only the claim holder removes it, and only the intent of that very call (`clientToken`).
 */
export function clearLaunchIntentRequest(
  table: string,
  uuid: string,
  owner: string,
  clientToken: string,
): UpdateItemCommandInput {
  const update = entryUpdate("REMOVE #launchIntent SET #version = #version + :one");
  const condition = and(clause.exists, clause.claimedByOwner, "#launchIntent.#clientToken = :token");
  return conditionalUpdate(table, uuid, update, condition, {
    ":one": { N: "1" },
    ":owner": { S: owner },
    ":token": { S: clientToken },
  });
}

/**
 * Record the instance launched for the current lock; fails if one is already recorded for that
 * attempt. The record replaces the launch intent in the same write.
 */
export function recordLaunchRequest(table: string, uuid: string, launch: LaunchRecord): UpdateItemCommandInput {
  const update = entryUpdate("SET #launch = :launch, #version = #version + :one REMOVE #launchLease, #launchIntent");
  const condition = and(clause.exists, "attribute_not_exists(#launch) OR #launch.#attempt <> :attempt");
  return conditionalUpdate(table, uuid, update, condition, {
    ":launch": toAttr(launch),
    ":one": { N: "1" },
    ":attempt": { N: String(launch.attempt) },
  });
}

/** Forget the launch record of an entry (its instance is gone and the container was requeued). */
export function clearLaunchRequest(table: string, uuid: string, instanceId: string): UpdateItemCommandInput {
  const update = entryUpdate("REMOVE #launch SET #version = #version + :one");
  const condition = and(clause.exists, "#launch.instanceId = :instanceId");
  return conditionalUpdate(table, uuid, update, condition, { ":one": { N: "1" }, ":instanceId": { S: instanceId } });
}

/**
 * Store the scheduling status the launch pass computed for a waiting entry (§3.3 status table),
 * only if it differs from the stored one: a steady queue writes nothing. It sets the
 * status-only mark, which every other entry write removes, so the launch stream filter can tell
 * this change from one that may make the entry launchable and does not wake launch for it
 * (launch wrote it). It touches no other attribute and leaves `version` alone: the status is
 * advisory, for the dispatch API, and never a reason to re-read an entry.
 */
export function setSchedulingStatusRequest(table: string, uuid: string, status: string): UpdateItemCommandInput {
  const update = "SET #schedulingStatus = :status, #statusOnly = :mark";
  const condition = and(clause.exists, clause.waiting, clause.statusChanged);
  return conditionalUpdate(table, uuid, update, condition, {
    ":status": { S: status },
    ":mark": { BOOL: true },
    ":queued": { S: "Queued" },
    ":locked": { S: "Locked" },
  });
}

/**
 * Take (or renew) a lease item (`#queue` for updates, `#launch-pass` for launch passes): only one
 * holder at a time per deployment. Succeeds when no
 * lease is held, the held one has expired, or the caller already holds it.
 */
export function acquireLeaseRequest(
  table: string,
  leaseKey: string,
  owner: string,
  nowMs: number,
  leaseMs: number,
): UpdateItemCommandInput {
  const update = "SET #leaseOwner = :owner, #leaseUntil = :until";
  const condition = "attribute_not_exists(#leaseUntil) OR #leaseUntil < :now OR #leaseOwner = :owner";
  return conditionalUpdate(table, leaseKey, update, condition, {
    ":owner": { S: owner },
    ":until": { N: String(nowMs + leaseMs) },
    ":now": { N: String(nowMs) },
  });
}

/** Give a lease back so the next invocation need not wait for it to expire. */
export function releaseLeaseRequest(table: string, leaseKey: string, owner: string): UpdateItemCommandInput {
  const update = "REMOVE #leaseOwner, #leaseUntil";
  const condition = "#leaseOwner = :owner";
  return conditionalUpdate(table, leaseKey, update, condition, { ":owner": { S: owner } });
}

/**
 * §1.5 step 5: the threshold becomes the start time of the last successful update. It only moves
 * forward, and only the lease holder may move it.
 */
export function setThresholdRequest(
  table: string,
  owner: string,
  updateStartedAt: string,
  tokenUuid: string,
): UpdateItemCommandInput {
  const update = "SET #threshold = :started, #tokenUuid = :tokenUuid";
  const condition = and("#leaseOwner = :owner", "attribute_not_exists(#threshold) OR #threshold < :started");
  return conditionalUpdate(table, metaKey.queue, update, condition, {
    ":started": { S: updateStartedAt },
    ":owner": { S: owner },
    ":tokenUuid": { S: tokenUuid },
  });
}
