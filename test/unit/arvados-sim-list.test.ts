import { describe, expect, it } from "vitest";
import { simApi, simFailure } from "../support/arvados-sim-api.js";
import { queueSelect } from "../../lib/arvados/container-schema.js";
import { SimError } from "../../local/arvados-sim/errors.js";
import { comparatorFor, effectiveOrder, parseOrder } from "../../local/arvados-sim/order.js";

const api = simApi;
const failure = simFailure;

const uuids = (page: { items: Record<string, unknown>[] }) => page.items.map((i) => i.uuid);

/** Deterministic pseudo-random numbers in [0, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("§5.7 filters on integer columns take integer or string operands", () => {
  it("accepts the dispatcher's string operand ['priority','>','0']", () => {
    const { add, list } = api();
    const on = add({ priority: 2 });
    add({ priority: 0 });
    expect(uuids(list({ filters: [["priority", ">", "0"]] }))).toEqual([on.uuid]);
  });
  it("accepts an integer operand", () => {
    const { add, list } = api();
    add({ priority: 1 });
    const high = add({ priority: 5 });
    expect(uuids(list({ filters: [["priority", ">=", 5]] }))).toEqual([high.uuid]);
  });
  it.each([[1.5], [true], [[1]], [{ a: 1 }]])("rejects the operand %j with 422", (operand) => {
    const { list } = api();
    const error = failure(() => list({ filters: [["priority", ">", operand]] }));
    expect(error.status).toBe(422);
    expect(error.messages[0]).toMatch(/^#<ArgumentError: Invalid operand '.*' for integer attribute 'priority'>$/);
  });
  it("rejects a string that is not an integer with 422", () => {
    const { list } = api();
    expect(failure(() => list({ filters: [["priority", ">", "high"]] })).status).toBe(422);
  });
});

describe("§5.7 filter operators", () => {
  it("'in' needs an array operand", () => {
    const { list } = api();
    const error = failure(() => list({ filters: [["uuid", "in", "zzzzz-dz642-000000000000001"]] }));
    expect(error).toMatchObject({
      status: 422,
      messages: ["#<ArgumentError: Invalid operand type 'String' for 'in' operator in filters>"],
    });
  });
  it("'in' selects the listed uuids", () => {
    const { add, list } = api();
    const [a, , c] = [add(), add(), add()];
    expect(uuids(list({ filters: [["uuid", "in", [c?.uuid, a?.uuid]]], order: "uuid" }))).toEqual([a?.uuid, c?.uuid]);
  });
  it("'!=' also matches NULL", () => {
    const { add, list, otherDispatcher: other } = api();
    const queued = add();
    const mine = add({ state: "Locked" });
    add({ state: "Locked", locked_by_uuid: other.tokenUuid });
    expect(uuids(list({ filters: [["locked_by_uuid", "!=", other.tokenUuid]], order: "uuid" }))).toEqual([
      queued.uuid,
      mine.uuid,
    ]);
  });
  it("'not in' also matches NULL, unless the operand holds null", () => {
    const { add, list, otherDispatcher: other } = api();
    const queued = add();
    add({ state: "Locked", locked_by_uuid: other.tokenUuid });
    expect(uuids(list({ filters: [["locked_by_uuid", "not in", [other.tokenUuid]]] }))).toEqual([queued.uuid]);
    expect(uuids(list({ filters: [["locked_by_uuid", "not in", [other.tokenUuid, null]]] }))).toEqual([]);
  });
  it("'=' null matches NULL", () => {
    const { add, list } = api();
    const queued = add();
    add({ state: "Running" });
    expect(uuids(list({ filters: [["locked_by_uuid", "=", null]] }))).toEqual([queued.uuid]);
  });
  it("compares timestamps given in any precision", () => {
    const { add, list } = api();
    const first = add();
    const second = add();
    expect(uuids(list({ filters: [["created_at", ">", first.created_at]] }))).toEqual([second.uuid]);
    expect(uuids(list({ filters: [["modified_at", "<", "2024-01-01T00:00:00.000001Z"]] }))).toEqual([first.uuid]);
  });
  it("'like' matches SQL patterns on text columns", () => {
    const { add, list } = api();
    const match = add({ container_image: "arvados/jobs:2.7" });
    add({ container_image: "other" });
    expect(uuids(list({ filters: [["container_image", "like", "arvados/%"]] }))).toEqual([match.uuid]);
  });
  it("rejects unknown attributes and operators with 422", () => {
    const { list } = api();
    expect(failure(() => list({ filters: [["bogus", "=", "x"]] })).messages).toEqual([
      "#<ArgumentError: Invalid attribute 'bogus' in filter>",
    ]);
    expect(failure(() => list({ filters: [["uuid", "~", "x"]] })).messages).toEqual([
      "#<ArgumentError: Invalid operator '~'>",
    ]);
  });
  it("rejects filters that are not a JSON array with 422", () => {
    const { service, root } = api();
    expect(failure(() => service.index(root, { filters: "{not json" })).status).toBe(422);
    expect(failure(() => service.index(root, { filters: '{"a":1}' })).status).toBe(422);
  });
});

describe("§5.7 order: defaults appended, cut after uuid, unselected columns dropped", () => {
  it("'priority desc' with the dispatcher's select is 'priority desc, uuid desc'", () => {
    expect(effectiveOrder(parseOrder("priority desc"), [...queueSelect])).toEqual([
      { column: "priority", descending: true },
      { column: "uuid", descending: true },
    ]);
  });
  it("'uuid' is 'uuid asc' alone", () => {
    expect(effectiveOrder(parseOrder("uuid"), [...queueSelect])).toEqual([{ column: "uuid", descending: false }]);
  });
  it("without select, modified_at desc sits between the given order and uuid", () => {
    expect(effectiveOrder(parseOrder("priority desc"), undefined).map((t) => t.column)).toEqual([
      "priority",
      "modified_at",
      "uuid",
    ]);
  });
  it("drops unknown columns and bad directions, and reads comma lists and JSON arrays", () => {
    expect(parseOrder("bogus desc, priority sideways, state desc")).toEqual([{ column: "state", descending: true }]);
    expect(parseOrder('["priority desc","uuid"]')).toEqual([
      { column: "priority", descending: true },
      { column: "uuid", descending: false },
    ]);
  });
  it("breaks priority ties by uuid desc in a listed page", () => {
    const { add, list } = api();
    const a = add({ priority: 5 });
    const b = add({ priority: 9 });
    const c = add({ priority: 5 });
    const page = list({ order: "priority desc", select: [...queueSelect] });
    expect(uuids(page)).toEqual([b.uuid, c.uuid, a.uuid]);
  });
  it("orders by modified_at desc by default", () => {
    const { add, list, service, root } = api();
    const a = add();
    const b = add();
    service.update(root, a.uuid, { container: { priority: 3 } });
    expect(uuids(list({}))).toEqual([a.uuid, b.uuid]);
  });
});

describe("§5.7 limit, offset, count and select", () => {
  it("defaults limit to 100 and caps it at MaxItemsPerResponse", () => {
    const { add, list } = api({ maxItemsPerResponse: 150 });
    for (let i = 0; i < 160; i++) add();
    expect(list({}).items).toHaveLength(100);
    const capped = list({ limit: 1000 });
    expect(capped.items).toHaveLength(150);
    expect(capped.limit).toBe(150);
  });
  it("rejects a limit that is not a non-negative integer", () => {
    const { list } = api();
    expect(failure(() => list({ limit: "-1" })).messages).toEqual([
      "#<ArgumentError: Invalid value for limit parameter>",
    ]);
  });
  it("returns short pages, never empty, when a response-size limit applies", () => {
    const { add, list, service } = api();
    for (let i = 0; i < 5; i++) add();
    service.settings.shortPage = 2;
    expect(list({ limit: 10 })).toMatchObject({ limit: 2, items: [expect.anything(), expect.anything()] });
    service.settings.shortPage = 0;
    expect(list({ limit: 10 }).items).toHaveLength(1);
  });
  it("pages by offset", () => {
    const { add, list } = api();
    const all = Array.from({ length: 7 }, () => add().uuid);
    expect(uuids(list({ order: "uuid", limit: 3, offset: 3 }))).toEqual(all.slice(3, 6));
  });
  it("adds items_available with count=exact (the default) and omits it with count=none", () => {
    const { add, list } = api();
    for (let i = 0; i < 4; i++) add();
    expect(list({ limit: 1 }).items_available).toBe(4);
    expect(list({ limit: 1, count: "exact" }).items_available).toBe(4);
    expect("items_available" in list({ limit: 1, count: "none" })).toBe(false);
    expect(failure(() => list({ count: "estimated" })).messages).toEqual([
      "#<ArgumentError: count parameter must be 'exact' or 'none'>",
    ]);
  });
  it("renders only the selected attributes plus kind", () => {
    const { add, list } = api();
    add();
    expect(Object.keys(list({ select: ["uuid", "state"] }).items[0] ?? {}).sort()).toEqual(["kind", "state", "uuid"]);
  });
  it("rejects an unknown attribute and an empty list in select", () => {
    const { list } = api();
    expect(failure(() => list({ select: ["uuid", "bogus"] })).messages).toEqual([
      "#<ArgumentError: Invalid attribute 'bogus' of Container in select parameter>",
    ]);
    expect(failure(() => list({ select: [] })).status).toBe(422);
  });
});

describe("§1.6 keyset paging by uuid sees every locked container exactly once", () => {
  it("pages ['locked_by_uuid','=',X] by uuid > last while other containers change", () => {
    const { add, list, service, root, otherDispatcher: other } = api();
    const mine: string[] = [];
    for (let i = 0; i < 25; i++) {
      mine.push(add({ state: "Locked", locked_by_uuid: other.tokenUuid }).uuid);
      add({ priority: i });
    }
    const seen: string[] = [];
    let last: string | undefined;
    for (;;) {
      const filters: unknown[] = [["locked_by_uuid", "=", other.tokenUuid]];
      if (last !== undefined) filters.push(["uuid", ">", last]);
      const page = uuids(
        list({ filters, order: "uuid", limit: 10, count: "none", select: [...queueSelect] }),
      ) as string[];
      if (page.length === 0) break;
      seen.push(...page);
      last = page.at(-1);
      service.lock(root, add().uuid); // unrelated churn between pages
    }
    expect(seen).toEqual(mine);
  });
});

describe("visibility: non-admin tokens see containers they locked or were shown", () => {
  it("lists only visible containers for a non-admin token", () => {
    const { add, list, service, user } = api();
    add();
    const shown = add();
    service.makeVisible(shown.uuid, user.tokenUuid);
    expect(uuids(list({}, user))).toEqual([shown.uuid]);
  });
});

describe("sorted views stay identical to a fresh sort while containers change", () => {
  it("matches a brute-force sort after every random change", () => {
    const { add, list, service, store, root, otherDispatcher: other } = api();
    const random = lcg(42);
    const pick = () => {
      const all = [...store.values()];
      return all[Math.floor(random() * all.length)];
    };
    for (let i = 0; i < 60; i++) add({ priority: Math.floor(random() * 5) });
    const queries = [
      { filters: [["state", "=", "Queued"]], order: "priority desc", select: [...queueSelect] },
      { filters: [["locked_by_uuid", "=", root.tokenUuid]], order: "uuid" },
      { order: "created_at desc" },
    ];
    const brute = (q: (typeof queries)[number]) => {
      const filters = (q.filters ?? []) as [string, string, string][];
      const order = effectiveOrder(parseOrder(q.order), q.select);
      return [...store.values()]
        .filter((r) => filters.every(([col, , v]) => (r as unknown as Record<string, unknown>)[col] === v))
        .sort(comparatorFor(order))
        .map((r) => r.uuid);
    };
    for (let step = 0; step < 300; step++) {
      const r = random();
      const c = pick();
      if (c === undefined) continue;
      try {
        if (r < 0.3) service.update(root, c.uuid, { container: { priority: Math.floor(random() * 5) } });
        else if (r < 0.5) service.lock(random() < 0.5 ? root : other, c.uuid);
        else if (r < 0.65) service.unlock(root, c.uuid);
        else if (r < 0.75) store.delete(c.uuid);
        else if (r < 0.85) add({ priority: Math.floor(random() * 5) });
        else service.update(root, c.uuid, { container: { state: "Running" } });
      } catch (error) {
        if (!(error instanceof SimError)) throw error;
      }
      for (const q of queries) expect(uuids(list({ ...q, limit: 1000 }))).toEqual(brute(q));
    }
  });
});
