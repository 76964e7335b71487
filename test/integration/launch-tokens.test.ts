import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LaunchTokens, refill } from "../../lib/store/launch-tokens.js";
import { SharedState } from "../../lib/store/shared-state.js";
import { freshQueueTable, localDynamoDb } from "../support/dynamodb.js";

const ddb = localDynamoDb();
let table: Awaited<ReturnType<typeof freshQueueTable>>;

beforeAll(async () => {
  table = await freshQueueTable(ddb);
});
afterAll(async () => {
  await table.drop();
});

describe("refill", () => {
  it("adds 2 tokens a second up to the burst of 4 (EC2's 5 less one of headroom)", () => {
    expect(refill({ tokens: 0, updatedAtMs: 0 }, 1_500)).toEqual({ tokens: 3, updatedAtMs: 1_500 });
    expect(refill({ tokens: 3, updatedAtMs: 0 }, 10_000)).toEqual({ tokens: 4, updatedAtMs: 10_000 });
  });
});

describe("the shared RunInstances token bucket", () => {
  it("grants exactly the burst to many concurrent takers at one instant", async () => {
    const now = 1_000_000;
    const tokens = new LaunchTokens(ddb, table.tableName, undefined, () => now);
    const results = await Promise.all(Array.from({ length: 12 }, () => tokens.take()));
    expect(results.filter((r) => r.ok)).toHaveLength(4);
    const refused = results.find((r) => !r.ok);
    expect(refused).toEqual({ ok: false, waitMs: 500 });
  });

  it("grants again once time has refilled the bucket", async () => {
    const tokens = new LaunchTokens(ddb, table.tableName, undefined, () => 1_001_000);
    const results = await Promise.all(Array.from({ length: 3 }, () => tokens.take()));
    expect(results.filter((r) => r.ok)).toHaveLength(2);
  });
});

describe("a shared state item", () => {
  it("loses no update when many invocations change it at once", async () => {
    const counter = new SharedState(ddb, table.tableName, "#test-counter", () => ({ n: 0 }));
    await Promise.all(
      Array.from({ length: 10 }, () => counter.modify((c) => ({ next: { n: c.n + 1 }, result: undefined }), 50)),
    );
    expect((await counter.read()).value.n).toBe(10);
  });

  it("a change that changes nothing writes nothing (cleanup's minute, most launch passes): the version stays", async () => {
    const state = new SharedState(ddb, table.tableName, "#test-steady", () => ({ n: 0, by: { a: 1 } }));
    await state.modify((s) => ({ next: { ...s, n: 1 }, result: undefined }));
    const before = await state.read();
    await state.modify((s) => ({ next: { n: s.n, by: { ...s.by } }, result: undefined }));
    expect(await state.read()).toEqual(before);
    await state.modify((s) => ({ next: { ...s, n: 2 }, result: undefined }));
    expect((await state.read()).version).toBe(before.version + 1);
  });
});
