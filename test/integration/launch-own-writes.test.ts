import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { afterEach, describe, expect, it } from "vitest";
import { passesFilters } from "../../local/event-filter.js";
import { readServerlessSpec } from "../../local/runner/serverless-mappings.js";
import { type DispatchHarness, dispatchHarness } from "../support/dispatch.js";
import { localDynamoDb } from "../support/dynamodb.js";

let h: DispatchHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/**
 * What launch's stream mapping does with the record of each write, judged on the item as the
 * write left it (a stream record's NewImage), with serverless.yml's own filters.
 */
async function wakesLaunch(harness: DispatchHarness, uuid: string): Promise<boolean> {
  const { Item } = await localDynamoDb().send(
    new GetItemCommand({ TableName: harness.tableName, Key: { uuid: { S: uuid } }, ConsistentRead: true }),
  );
  const launch = readServerlessSpec().functions.find((f) => f.name === "launch");
  const filters = launch?.streams.flatMap((m) => m.filterPatterns) ?? [];
  return passesFilters(filters, { eventName: "MODIFY", dynamodb: { Keys: { uuid: { S: uuid } }, NewImage: Item } });
}

describe("launch is not woken by the writes it makes on an entry it holds (a burst would wake it once per write)", () => {
  it("its claim and its launch intent are dropped; the lock's reply and anyone else's next write are news", async () => {
    h = await dispatchHarness();
    const c = h.sim.addContainer({ state: "Queued", priority: 10, runtime_constraints: { ram: 2 ** 30, vcpus: 1 } });
    await h.refresh();
    expect(await wakesLaunch(h, c.uuid)).toBe(true);
    expect(await h.store.claimEntry(c.uuid, "me", Date.now(), 60_000)).toBe(true);
    expect(await wakesLaunch(h, c.uuid)).toBe(false);
    await h.queue.lock(c.uuid);
    expect(await wakesLaunch(h, c.uuid)).toBe(true);
    await h.store.writeLaunchIntent(c.uuid, "me", {
      attempt: 1,
      instanceType: "small",
      clientToken: "token-1",
      writtenAt: new Date().toISOString(),
    });
    expect(await wakesLaunch(h, c.uuid)).toBe(false);
    // EC2 said the call started nothing: the intent's removal is news (another type may fit).
    expect(await h.store.clearLaunchIntent(c.uuid, "me", "token-1")).toBe(true);
    expect(await wakesLaunch(h, c.uuid)).toBe(true);
  });
});
