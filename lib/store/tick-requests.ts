import type { UpdateItemCommandInput } from "@aws-sdk/client-dynamodb";
import type { TickClaimInput, TickFinish } from "../model/ticks.js";
import { metaKey } from "./item-codec.js";

/**
 * Pure builders of the tick chain's writes on the `#queue` item (see lib/ticks/update-tick.ts).
 * The chain's state is two attributes beside the threshold and the update lease:
 * `tickGeneration`, the generation the next tick message must carry to be claimed, and
 * `tickDueBy`, the time by which the next claim is expected (past it, the one-minute watchdog
 * restarts the chain).
 */

const names = {
  "#tickGeneration": "tickGeneration",
  "#tickDueBy": "tickDueBy",
  "#leaseOwner": "leaseOwner",
  "#leaseUntil": "leaseUntil",
  "#threshold": "threshold",
  "#tokenUuid": "tokenUuid",
  "#waitingEntries": "waitingEntries",
} as const;

function namesUsedBy(...expressions: string[]): Record<string, string> {
  const text = expressions.join(" ");
  return Object.fromEntries(
    Object.entries(names).filter(([placeholder]) => new RegExp(`${placeholder}\\b`).test(text)),
  );
}

const clause = {
  // The tick carries the generation the chain expects; a duplicate or late one does not (it was claimed).
  generationMatches: "attribute_not_exists(#tickGeneration) OR #tickGeneration = :generation",
  leaseFree: "attribute_not_exists(#leaseUntil) OR #leaseUntil < :now OR #leaseOwner = :owner",
  leaseOwned: "#leaseOwner = :owner",
  thresholdOlder: "attribute_not_exists(#threshold) OR #threshold < :started",
} as const;

const and = (...clauses: string[]) => clauses.map((c) => `(${c})`).join(" AND ");

function onQueueMeta(
  table: string,
  update: string,
  condition: string,
  values: UpdateItemCommandInput["ExpressionAttributeValues"],
): UpdateItemCommandInput {
  return {
    TableName: table,
    Key: { uuid: { S: metaKey.queue } },
    UpdateExpression: update,
    ConditionExpression: condition,
    ExpressionAttributeNames: namesUsedBy(update, condition),
    ExpressionAttributeValues: values,
    // A failed claim says why (stale generation, or the lease is held) without another read.
    ReturnValuesOnConditionCheckFailure: "ALL_OLD",
  };
}

/**
 * Claim tick `generation` and take the update lease in one write: the chain moves to
 * generation + 1, so a duplicate or late delivery of this tick fails the condition and dies.
 * Fails also while another invocation holds the lease (see claimTickOnlyRequest).
 */
export function claimTickRequest(table: string, input: TickClaimInput): UpdateItemCommandInput {
  const update = "SET #tickGeneration = :next, #tickDueBy = :dueBy, #leaseOwner = :owner, #leaseUntil = :until";
  return onQueueMeta(table, update, and(clause.generationMatches, clause.leaseFree), {
    ":generation": { N: String(input.generation) },
    ":next": { N: String(input.generation + 1) },
    ":dueBy": { N: String(input.dueByMs) },
    ":owner": { S: input.owner },
    ":until": { N: String(input.nowMs + input.leaseMs) },
    ":now": { N: String(input.nowMs) },
  });
}

/**
 * Claim tick `generation` without the lease (another update is still running, e.g. a slow
 * server): the chain goes on, this tick polls nothing.
 */
export function claimTickOnlyRequest(
  table: string,
  input: Omit<TickClaimInput, "owner" | "leaseMs" | "nowMs">,
): UpdateItemCommandInput {
  const update = "SET #tickGeneration = :next, #tickDueBy = :dueBy";
  return onQueueMeta(table, update, clause.generationMatches, {
    ":generation": { N: String(input.generation) },
    ":next": { N: String(input.generation + 1) },
    ":dueBy": { N: String(input.dueByMs) },
  });
}

/**
 * §1.5 step 5 and the end of a tick in one write: the threshold becomes this update's start
 * time (forward only, lease holder only), the lease is given back, the chain is due again
 * by `dueByMs` (the next tick's delay plus slack), and `waitingEntries` says how many cached
 * containers are Queued or Locked (the launch sweep skips its pass at 0).
 */
export function finishTickUpdateRequest(table: string, input: TickFinish): UpdateItemCommandInput {
  const update =
    "SET #threshold = :started, #tokenUuid = :tokenUuid, #tickDueBy = :dueBy, #waitingEntries = :waiting REMOVE #leaseOwner, #leaseUntil";
  return onQueueMeta(table, update, and(clause.leaseOwned, clause.thresholdOlder), {
    ":started": { S: input.updateStartedAt },
    ":tokenUuid": { S: input.tokenUuid },
    ":dueBy": { N: String(input.dueByMs) },
    ":waiting": { N: String(input.waiting) },
    ":owner": { S: input.owner },
  });
}
