import { describe, expect, it } from "vitest";
import { parseTick, tickBody } from "../../lib/model/ticks.js";
import { delaySeconds, sendTickInput } from "../../lib/sqs/tick-sender.js";
import { scheduleWakeRequest } from "../../lib/store/launch-wakes.js";
import { claimTickOnlyRequest, claimTickRequest } from "../../lib/store/tick-requests.js";

describe("a tick claims its generation with one conditional write on #queue (duplicates and late ticks die there)", () => {
  const claim = claimTickRequest("queue", {
    generation: 7,
    owner: "me",
    nowMs: 1_000,
    leaseMs: 60_000,
    dueByMs: 75_000,
  });

  it("moves the chain to the next generation only if it still expects this one, and takes the update lease in the same write", () => {
    expect(claim.Key).toEqual({ uuid: { S: "#queue" } });
    expect(claim.ConditionExpression).toBe(
      "(attribute_not_exists(#tickGeneration) OR #tickGeneration = :generation) AND (attribute_not_exists(#leaseUntil) OR #leaseUntil < :now OR #leaseOwner = :owner)",
    );
    expect(claim.UpdateExpression).toBe(
      "SET #tickGeneration = :next, #tickDueBy = :dueBy, #leaseOwner = :owner, #leaseUntil = :until",
    );
    expect(claim.ExpressionAttributeValues).toMatchObject({
      ":generation": { N: "7" },
      ":next": { N: "8" },
      ":until": { N: "61000" },
    });
    // A failed condition says why (stale generation, or a held lease) without another read.
    expect(claim.ReturnValuesOnConditionCheckFailure).toBe("ALL_OLD");
  });

  it("without the lease (a slow update still runs), claims the generation alone so the chain goes on", () => {
    const only = claimTickOnlyRequest("queue", { generation: 7, dueByMs: 75_000 });
    expect(only.ConditionExpression).toBe("attribute_not_exists(#tickGeneration) OR #tickGeneration = :generation");
    expect(only.UpdateExpression).not.toContain("#leaseOwner");
  });

  it("closes the update that sent the tick in the same write: threshold forward only, its lease taken over, waiting count (§1.5 step 5)", () => {
    const done = { owner: "previous", startedAt: "2026-12-07T10:00:00.000Z", tokenUuid: "t", waiting: 3 };
    const closing = claimTickRequest("queue", {
      generation: 7,
      owner: "me",
      nowMs: 1_000,
      leaseMs: 60_000,
      dueByMs: 75_000,
      done,
    });
    expect(closing.ConditionExpression).toBe(
      "(attribute_not_exists(#tickGeneration) OR #tickGeneration = :generation) AND (attribute_not_exists(#leaseUntil) OR #leaseUntil < :now OR #leaseOwner = :owner OR #leaseOwner = :previousOwner) AND (attribute_not_exists(#threshold) OR #threshold < :started)",
    );
    expect(closing.UpdateExpression).toBe(
      "SET #tickGeneration = :next, #tickDueBy = :dueBy, #leaseOwner = :owner, #leaseUntil = :until, #threshold = :started, #tokenUuid = :tokenUuid, #waitingEntries = :waiting",
    );
    expect(closing.ExpressionAttributeValues).toMatchObject({
      ":previousOwner": { S: "previous" },
      ":started": { S: done.startedAt },
      ":waiting": { N: "3" },
    });
    // Not closing (a newer threshold is stored): the lease is still the sender's to hand over.
    const notClosing = claimTickRequest(
      "queue",
      { generation: 7, owner: "me", nowMs: 1_000, leaseMs: 60_000, dueByMs: 75_000, done },
      false,
    );
    expect(notClosing.UpdateExpression).not.toContain("#threshold");
    expect(notClosing.ConditionExpression).toContain("#leaseOwner = :previousOwner");
    expect(notClosing.ConditionExpression).not.toContain("#threshold");
  });
});

describe("launch keeps one wake-up pending (§4.1: the window's end wakes the scheduler)", () => {
  it("schedules a wake-up unless one is pending at or before it; a past one no longer counts", () => {
    const r = scheduleWakeRequest("queue", 5_000, 1_000);
    expect(r.Key).toEqual({ uuid: { S: "#launch-pass" } });
    expect(r.ConditionExpression).toBe("attribute_not_exists(#wakeAt) OR #wakeAt < :now OR #wakeAt > :at");
  });
});

describe("tick messages", () => {
  it("round-trip, and anything else is not a tick", () => {
    expect(parseTick(tickBody({ kind: "update-tick", generation: 12 }))).toEqual({
      kind: "update-tick",
      generation: 12,
    });
    const done = {
      owner: "o",
      startedAt: "2026-12-07T10:00:00.123Z",
      tokenUuid: "zzzzz-gj3su-000000000000000",
      waiting: 0,
    };
    expect(parseTick(tickBody({ kind: "update-tick", generation: 3, done }))).toEqual({
      kind: "update-tick",
      generation: 3,
      done,
    });
    // A done this code did not write is dropped: the claim then writes no threshold.
    expect(
      parseTick(JSON.stringify({ kind: "update-tick", generation: 3, done: { ...done, startedAt: "yesterday" } })),
    ).toEqual({
      kind: "update-tick",
      generation: 3,
    });
    expect(parseTick(tickBody({ kind: "launch-wake", reason: "quota" }))).toEqual({
      kind: "launch-wake",
      reason: "quota",
    });
    for (const body of [
      "",
      "{",
      "null",
      '{"kind":"update-tick","generation":-1}',
      '{"kind":"update-tick","generation":1.5}',
      '{"kind":"launch-wake","reason":"bored"}',
    ]) {
      expect(parseTick(body), body).toBeUndefined();
    }
  });

  it("are delayed by whole seconds, rounded up (a window must have ended), at most SQS's 15 minutes", () => {
    expect([0, 1, 999, 1_000, 1_001, 10_000, 2_000_000].map(delaySeconds)).toEqual([0, 1, 1, 1, 2, 10, 900]);
    expect(delaySeconds(-5)).toBe(0);
    expect(sendTickInput("https://sqs/q", { kind: "update-tick", generation: 1 }, 10_000)).toEqual({
      QueueUrl: "https://sqs/q",
      MessageBody: '{"kind":"update-tick","generation":1}',
      DelaySeconds: 10,
    });
  });
});
