import { describe, expect, it } from "vitest";
import { idleChangesPerRequest, idleSinceFromItem, idleSinceUpdateRequests } from "../../lib/store/worker-idle.js";

// The idle-since records' requests, built without a server (lib/store/worker-idle.ts).

describe("the write of idle-since changes", () => {
  it("one UpdateItem of #workers: a SET over the value read (or over none), a REMOVE of the value read", () => {
    const [request, ...rest] = idleSinceUpdateRequests("q", {
      set: [
        { instanceId: "i-1", at: "T2" },
        { instanceId: "i-2", at: "T3", replaces: "T1" },
      ],
      remove: [{ instanceId: "i-3", value: "T0" }],
    });
    expect(rest).toEqual([]);
    expect(request).toMatchObject({
      TableName: "q",
      Key: { uuid: { S: "#workers" } },
      UpdateExpression: "SET #w0 = :new0, #w1 = :new1 REMOVE #w2",
      ConditionExpression: "(attribute_not_exists(#w0)) AND (#w1 = :old1) AND (#w2 = :old2)",
      ExpressionAttributeNames: { "#w0": "idle:i-1", "#w1": "idle:i-2", "#w2": "idle:i-3" },
      ExpressionAttributeValues: {
        ":new0": { S: "T2" },
        ":old1": { S: "T1" },
        ":new1": { S: "T3" },
        ":old2": { S: "T0" },
      },
    });
  });

  it(`splits past ${idleChangesPerRequest} changes, each write under DynamoDB's 4 KB expression limit`, () => {
    const set = Array.from({ length: 2 * idleChangesPerRequest + 1 }, (_, i) => ({
      instanceId: `i-${"f".repeat(17)}${i}`,
      at: "2026-01-01T00:00:00.000000Z",
    }));
    const requests = idleSinceUpdateRequests("q", { set, remove: [] });
    expect(requests).toHaveLength(3);
    for (const r of requests) {
      expect(r.UpdateExpression?.length ?? 0).toBeLessThan(4096);
      expect(r.ConditionExpression?.length ?? 0).toBeLessThan(4096);
    }
  });

  it("nothing to change: no write", () => {
    expect(idleSinceUpdateRequests("q", { set: [], remove: [] })).toEqual([]);
  });
});

describe("the read", () => {
  it("takes the idle: attributes as records, by instance id, and ignores the rest", () => {
    expect(idleSinceFromItem({ uuid: { S: "#workers" }, "idle:i-1": { S: "T1" } })).toEqual({ "i-1": "T1" });
    expect(idleSinceFromItem(undefined)).toEqual({});
  });
});
