import type { UpdateItemCommandInput } from "@aws-sdk/client-dynamodb";
import type { TickClaimInput } from "../model/ticks.js";
import { metaKey } from "./item-codec.js";

/**
 * Pure builders of the tick chain's writes on the `#queue` item (see lib/ticks/update-tick.ts).
 * The chain's state is two attributes beside the threshold and the update lease:
 * `tickGeneration`, the generation the next tick message must carry to be claimed, and
 * `tickDueBy`, the time by which the next claim is expected (past it, the one-minute watchdog
 * restarts the chain).
 *
 * A tick costs one write: its claim also closes the update that sent it (threshold, token uuid,
 * waiting count, carried in the tick message) and takes the update lease over from that update,
 * which ended before it sent the tick. The threshold so lags the update by one PollInterval
 * (older is the safe side: a reader waits a little longer for freshness), and a lost tick leaves
 * its update's threshold unwritten (the next update's counts instead).
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
  // The update that sent this tick has ended: its lease passes on to this tick's update.
  leaseFreeOrPrevious:
    "attribute_not_exists(#leaseUntil) OR #leaseUntil < :now OR #leaseOwner = :owner OR #leaseOwner = :previousOwner",
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
 * With `done`, the lease may be taken over from the update that sent the tick, and (unless
 * `close` is false) the same write closes that update (§1.5 step 5: the threshold moves forward
 * only). Fails also while another invocation holds the lease (see claimTickOnlyRequest), or,
 * when closing, if the threshold is already newer (then claim with `close` false).
 */
export function claimTickRequest(
  table: string,
  input: TickClaimInput,
  close = input.done !== undefined,
): UpdateItemCommandInput {
  const done = input.done;
  const claim = "SET #tickGeneration = :next, #tickDueBy = :dueBy, #leaseOwner = :owner, #leaseUntil = :until";
  const closing = close && done !== undefined;
  return onQueueMeta(
    table,
    closing ? `${claim}, #threshold = :started, #tokenUuid = :tokenUuid, #waitingEntries = :waiting` : claim,
    and(
      clause.generationMatches,
      done === undefined ? clause.leaseFree : clause.leaseFreeOrPrevious,
      ...(closing ? [clause.thresholdOlder] : []),
    ),
    {
      ":generation": { N: String(input.generation) },
      ":next": { N: String(input.generation + 1) },
      ":dueBy": { N: String(input.dueByMs) },
      ":owner": { S: input.owner },
      ":until": { N: String(input.nowMs + input.leaseMs) },
      ":now": { N: String(input.nowMs) },
      ...(done === undefined ? {} : { ":previousOwner": { S: done.owner } }),
      ...(closing
        ? {
            ":started": { S: done.startedAt },
            ":tokenUuid": { S: done.tokenUuid },
            ":waiting": { N: String(done.waiting) },
          }
        : {}),
    },
  );
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
