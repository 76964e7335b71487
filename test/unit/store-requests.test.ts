import { describe, expect, it } from "vitest";
import {
  applyStateChangeRequest,
  claimEntryRequest,
  clearLaunchIntentRequest,
  clearLaunchRequest,
  deleteAbsentEntryRequest,
  forgetRequest,
  putNewEntryRequest,
  recordLaunchRequest,
  replacePolledContainerRequest,
  releaseEntryRequest,
  setInstanceTypesRequest,
  setSchedulingStatusRequest,
  setThresholdRequest,
  writeLaunchIntentRequest,
} from "../../lib/store/requests.js";
import { containerUuid, queueEntry, queuedContainer } from "../support/fixtures.js";

const table = "queue";

/** The launch intent of a call with token `clientToken` for lock_count `attempt`. */
function intent(attempt: number, clientToken: string) {
  return { attempt, instanceType: "small", subnetId: "subnet-a", clientToken, writtenAt: "2026-01-01T00:00:00.000Z" };
}

/** Every #name and :value an expression set uses must be declared, and nothing more (DynamoDB rejects both). */
function placeholdersBalanced(input: {
  UpdateExpression?: string;
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
}): void {
  const text = `${input.UpdateExpression ?? ""} ${input.ConditionExpression ?? ""}`;
  const names = new Set(text.match(/#[A-Za-z]+/g) ?? []);
  const values = new Set(text.match(/:[A-Za-z]+/g) ?? []);
  expect(new Set(Object.keys(input.ExpressionAttributeNames ?? {}))).toEqual(names);
  expect(new Set(Object.keys(input.ExpressionAttributeValues ?? {}))).toEqual(values);
}

describe("every write is conditional and its placeholders are exactly declared", () => {
  const started = "2026-01-01T00:00:00.000Z";
  const decision = {
    needed: { VCPUs: 1, RAM: 1, Scratch: 1, GPUs: 0, GPUVRAM: 0 },
    maxPrice: 1,
    chosen: [],
    rejected: [],
  };
  const cases = {
    putNewEntry: putNewEntryRequest(table, queueEntry(1)),
    replacePolled: replacePolledContainerRequest(table, queuedContainer(1), started),
    replacePolledFinished: replacePolledContainerRequest(table, queuedContainer(1, { state: "Complete" }), started, 99),
    deleteAbsent: deleteAbsentEntryRequest(table, containerUuid(1), started),
    forget: forgetRequest(table, containerUuid(1)),
    applyStateChange: applyStateChangeRequest(
      table,
      { uuid: containerUuid(1), state: "Locked", priority: 1n, locked_by_uuid: "x" },
      started,
    ),
    setInstanceTypes: setInstanceTypesRequest(table, containerUuid(1), [], decision.needed, decision),
    recordLaunch: recordLaunchRequest(table, containerUuid(1), {
      instanceId: "i-1",
      instanceType: "t",
      attempt: 1,
      launchedAt: started,
    }),
    claimEntry: claimEntryRequest(table, containerUuid(1), "me", 0, 1),
    writeLaunchIntent: writeLaunchIntentRequest(table, containerUuid(1), "me", intent(2, "tok-a")),
    writeLaunchIntentFollowing: writeLaunchIntentRequest(table, containerUuid(1), "me", intent(2, "tok-b"), "tok-a"),
    clearLaunchIntent: clearLaunchIntentRequest(table, containerUuid(1), "me", "tok-a"),
    setThreshold: setThresholdRequest(table, "me", started, "tok"),
    setSchedulingStatus: setSchedulingStatusRequest(
      table,
      containerUuid(1),
      "Waiting for previous container attempt to exit.",
    ),
  };
  for (const [name, input] of Object.entries(cases)) {
    it(`${name} has a condition`, () => {
      expect(input.ConditionExpression).toBeTruthy();
      placeholdersBalanced(input);
    });
  }
});

describe("the rules the conditions encode", () => {
  it("forget deletes only Complete, Cancelled, or Queued with priority 0 (§1.4)", () => {
    const input = forgetRequest(table, containerUuid(1));
    expect(input.ConditionExpression).toBe(
      "(attribute_exists(#uuid)) AND (#container.#state IN (:complete, :cancelled) OR (#container.#state = :queued AND #container.#priority = :zero))",
    );
  });

  it("a polled record loses to a local change made after the poll started (dontupdate)", () => {
    const input = replacePolledContainerRequest(table, queuedContainer(1), "2026-01-01T00:00:00.000Z");
    expect(input.ConditionExpression).toContain("#localChangeAt < :updateStartedAt");
    expect(input.ExpressionAttributeValues?.[":updateStartedAt"]).toEqual({ S: "2026-01-01T00:00:00.000Z" });
  });

  it("lock/unlock/cancel replies copy only state, priority and locked_by_uuid (§1.9)", () => {
    const input = applyStateChangeRequest(
      table,
      { uuid: containerUuid(1), state: "Queued", priority: 3n, locked_by_uuid: null },
      "t",
    );
    expect(input.UpdateExpression).toBe(
      "SET #container.#state = :state, #container.#priority = :priority, #container.#lockedBy = :lockedBy, #localChangeAt = :changedAt, #version = #version + :one, #active = :active REMOVE #statusOnly",
    );
    expect(input.ExpressionAttributeValues?.[":lockedBy"]).toEqual({ NULL: true });
  });

  it("a write that sets a container's state keeps the `active` mark of the live-entries index: set while live, removed once finished", () => {
    const change = { uuid: containerUuid(1), priority: 3n, locked_by_uuid: null };
    const cancelled = applyStateChangeRequest(table, { ...change, state: "Cancelled" }, "t", 1);
    expect(cancelled.UpdateExpression).toContain("REMOVE #statusOnly, #active");
    expect(cancelled.ExpressionAttributeValues?.[":active"]).toBeUndefined();
    expect(
      replacePolledContainerRequest(table, queuedContainer(1, { state: "Complete" }), "t", 1).UpdateExpression,
    ).toContain("REMOVE #statusOnly, #active");
    expect(
      replacePolledContainerRequest(table, queuedContainer(1, { state: "Running" }), "t").UpdateExpression,
    ).toContain("#active = :active");
    expect(putNewEntryRequest(table, queueEntry(1)).Item?.active).toEqual({ S: "1" });
    expect(putNewEntryRequest(table, queueEntry(1, { state: "Complete" })).Item?.active).toBeUndefined();
  });

  it("types are written once", () => {
    const d = { needed: { VCPUs: 1, RAM: 1, Scratch: 1, GPUs: 0, GPUVRAM: 0 }, maxPrice: 1, chosen: [], rejected: [] };
    expect(setInstanceTypesRequest(table, containerUuid(1), [], d.needed, d).ConditionExpression).toContain(
      "attribute_not_exists(#instanceTypes)",
    );
  });
});

describe("a launch intent is written before each RunInstances call, and one lock has one call in flight", () => {
  it("is written only by the claim holder, with no instance recorded for this lock and no other call of this lock open", () => {
    const input = writeLaunchIntentRequest(table, containerUuid(1), "me", intent(2, "tok-a"));
    // Marked as launch's own write: the launch stream filter drops its record (no news for launch).
    expect(input.UpdateExpression).toBe("SET #launchIntent = :intent, #version = #version + :one, #statusOnly = :mark");
    expect(input.ConditionExpression).toBe(
      "(attribute_exists(#uuid)) AND (#launchLease.#owner = :owner) AND (attribute_not_exists(#launch) OR #launch.#attempt < :attempt)" +
        " AND (attribute_not_exists(#launchIntent) OR #launchIntent.#attempt < :attempt OR #launchIntent.#clientToken = :token)",
    );
    expect(input.ExpressionAttributeValues).toMatchObject({
      ":owner": { S: "me" },
      ":attempt": { N: "2" },
      ":token": { S: "tok-a" },
    });
  });

  it("stores the call's lock_count, type, subnet, ClientToken and time", () => {
    const input = writeLaunchIntentRequest(table, containerUuid(1), "me", intent(2, "tok-a"));
    expect(input.ExpressionAttributeValues?.[":intent"]).toEqual({
      M: {
        attempt: { N: "2" },
        instanceType: { S: "small" },
        subnetId: { S: "subnet-a" },
        clientToken: { S: "tok-a" },
        writtenAt: { S: "2026-01-01T00:00:00.000Z" },
      },
    });
  });

  it("replaces an open intent of the same lock only with the same call, or after the failed call it follows", () => {
    const input = writeLaunchIntentRequest(table, containerUuid(1), "me", intent(2, "tok-b"), "tok-a");
    expect(input.ConditionExpression).toContain("#launchIntent.#clientToken IN (:token, :replaces)");
    expect(input.ExpressionAttributeValues).toMatchObject({ ":token": { S: "tok-b" }, ":replaces": { S: "tok-a" } });
  });

  it("is removed only by the claim holder, and only the intent of the call EC2 said failed", () => {
    const input = clearLaunchIntentRequest(table, containerUuid(1), "me", "tok-a");
    expect(input.UpdateExpression).toBe("REMOVE #statusOnly, #launchIntent SET #version = #version + :one");
    expect(input.ConditionExpression).toBe(
      "(attribute_exists(#uuid)) AND (#launchLease.#owner = :owner) AND (#launchIntent.#clientToken = :token)",
    );
  });

  it("is replaced by the launch record in the same write", () => {
    const input = recordLaunchRequest(table, containerUuid(1), {
      instanceId: "i-1",
      instanceType: "small",
      attempt: 2,
      launchedAt: "t",
    });
    expect(input.UpdateExpression).toBe(
      "SET #launch = :launch, #version = #version + :one REMOVE #statusOnly, #launchLease, #launchIntent",
    );
  });
});

describe("a scheduling status is stored only when it changes, and alone (§3.3)", () => {
  const status = "Waiting for a m5.large instance to boot and be ready to accept work.";

  it("is written only to a waiting entry whose stored status differs", () => {
    const input = setSchedulingStatusRequest(table, containerUuid(1), status);
    expect(input.ConditionExpression).toBe(
      "(attribute_exists(#uuid)) AND (#container.#state IN (:queued, :locked)) AND (attribute_not_exists(#schedulingStatus) OR #schedulingStatus <> :status)",
    );
    expect(input.ExpressionAttributeValues).toMatchObject({
      ":status": { S: status },
      ":queued": { S: "Queued" },
      ":locked": { S: "Locked" },
    });
  });

  it("sets the status and the status-only mark and nothing else, not even version", () => {
    const input = setSchedulingStatusRequest(table, containerUuid(1), status);
    expect(input.UpdateExpression).toBe("SET #schedulingStatus = :status, #statusOnly = :mark");
    expect(input.ExpressionAttributeValues?.[":mark"]).toEqual({ BOOL: true });
  });

  it("every other write to an entry removes the status-only mark, so the launch filter sees it", () => {
    const started = "2026-01-01T00:00:00.000Z";
    const needed = { VCPUs: 1, RAM: 1, Scratch: 1, GPUs: 0, GPUVRAM: 0 };
    const entryWrites = {
      replacePolled: replacePolledContainerRequest(table, queuedContainer(1), started),
      applyStateChange: applyStateChangeRequest(
        table,
        { uuid: containerUuid(1), state: "Locked", priority: 1n, locked_by_uuid: "x" },
        started,
      ),
      setInstanceTypes: setInstanceTypesRequest(table, containerUuid(1), [], needed, {
        needed,
        maxPrice: 1,
        chosen: [],
        rejected: [],
      }),
      releaseEntry: releaseEntryRequest(table, containerUuid(1), "me"),
      clearLaunchIntent: clearLaunchIntentRequest(table, containerUuid(1), "me", "tok-a"),
      recordLaunch: recordLaunchRequest(table, containerUuid(1), {
        instanceId: "i-1",
        instanceType: "t",
        attempt: 1,
        launchedAt: started,
      }),
      clearLaunch: clearLaunchRequest(table, containerUuid(1), "i-1"),
    };
    for (const [name, input] of Object.entries(entryWrites)) {
      expect(input.UpdateExpression, name).toMatch(/ ?REMOVE #statusOnly\b/);
      expect(input.ExpressionAttributeNames?.["#statusOnly"], name).toBe("statusOnly");
      placeholdersBalanced(input);
    }
    // launch's own writes on an entry it holds set the mark instead: no news for launch.
    for (const input of [
      claimEntryRequest(table, containerUuid(1), "me", 0, 1),
      writeLaunchIntentRequest(table, containerUuid(1), "me", intent(2, "tok-a")),
    ]) {
      expect(input.UpdateExpression).toMatch(/#statusOnly = :mark$/);
      expect(input.ExpressionAttributeValues?.[":mark"]).toEqual({ BOOL: true });
      placeholdersBalanced(input);
    }
    // A new entry is put whole, without the mark.
    expect(putNewEntryRequest(table, queueEntry(1)).Item?.statusOnly).toBeUndefined();
  });
});
