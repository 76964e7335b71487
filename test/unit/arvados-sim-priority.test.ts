import { describe, expect, it } from "vitest";
import { simApi, simFailure } from "../support/arvados-sim-api.js";
import { queueSelect } from "../../lib/arvados/container-schema.js";
import { SimClock, formatTimestamp, normalizeTimestamp, wallClockMicros } from "../../local/arvados-sim/clock.js";
import { containerPriority, priorityEpochMs } from "../../local/arvados-sim/priority.js";
import { ArvadosSimulator } from "../../local/arvados-sim/simulator.js";

const api = simApi;
const failure = simFailure;
const uuids = (page: { items: Record<string, unknown>[] }) => page.items.map((i) => i.uuid);

/** 2^50, the factor of a request priority (`1125899906842624::bigint` upstream). */
const factor = 1125899906842624n;
/** The simulator's clock in these tests: 2026-12-07T07:02:31.123Z. */
const t = Date.UTC(2026, 11, 7, 7, 2, 31, 123);

/** A simulator whose clock stands still at `t` (each timestamp 1 µs after the last). */
function simAt(ms = t): ArvadosSimulator {
  return new ArvadosSimulator({ clock: () => new Date(ms) });
}

describe("§5.6 a container created for a request gets request priority × 2^50 − the request's created_at ms", () => {
  it("gives a request of priority 500 made at created_at 500 × 2^50 − created_at ms", () => {
    const c = simAt().addContainer({}, { request: { priority: 500 } });
    expect(c.created_at).toBe("2026-12-07T07:02:31.123000000Z");
    expect(c.priority).toBe(500n * factor - BigInt(t));
    expect(c.priority).toBe(562948156794360877n);
  });
  it("gives a fixture with no origin the CWL runner's default request, priority 500, made as it is created", () => {
    const c = simAt().addContainer();
    expect(c.priority).toBe(containerPriority(500, t));
    expect(c.priority > 2n ** 53n).toBe(true);
  });
  it("takes the request's created_at when it is pinned", () => {
    const c = simAt().addContainer({}, { request: { priority: 7, createdAtMs: t - 60_000 } });
    expect(c.priority).toBe(7n * factor - BigInt(t - 60_000));
  });
  it("ranks requests of one priority made 1 ms apart exactly 1 apart, the older higher", () => {
    const sim = simAt();
    const older = sim.addContainer({}, { request: { priority: 500, createdAtMs: t } });
    const newer = sim.addContainer({}, { request: { priority: 500, createdAtMs: t + 1 } });
    expect(older.priority - newer.priority).toBe(1n);
    expect(Number(older.priority)).toBe(Number(newer.priority)); // one double: only a bigint tells them apart
  });
  it("ranks any request of a higher priority above every older one of a lower priority", () => {
    const sim = simAt();
    const oldLow = sim.addContainer({}, { request: { priority: 499, createdAtMs: 0 } });
    const newHigh = sim.addContainer({}, { request: { priority: 500, createdAtMs: t } });
    expect(newHigh.priority > oldLow.priority).toBe(true);
  });
  it("rounds created_at's microseconds to the nearest ms, as the database's ::bigint cast does", () => {
    expect(priorityEpochMs("2026-12-07T07:02:31.123499000Z")).toBe(BigInt(t));
    expect(priorityEpochMs("2026-12-07T07:02:31.123500000Z")).toBe(BigInt(t + 1));
    expect(priorityEpochMs("2026-12-07T07:02:31Z")).toBe(BigInt(t - 123));
  });
  it("gives a request of priority 0 (on hold) priority 0", () => {
    expect(simAt().addContainer({}, { request: { priority: 0 } }).priority).toBe(0n);
  });
  it("refuses a request priority outside 0 … 1000, and a priority given with an origin", () => {
    const sim = simAt();
    expect(simFailure(() => sim.addContainer({}, { request: { priority: 1001 } })).status).toBe(400);
    expect(simFailure(() => sim.addContainer({}, { request: { priority: 1.5 } })).status).toBe(400);
    expect(simFailure(() => sim.addContainer({ priority: 5 }, { request: { priority: 5 } })).status).toBe(400);
    expect(sim.stats().containers).toBe(0);
  });
});

describe("§5.6 a container requested by another container inherits its priority", () => {
  it("gives a child its parent's priority", () => {
    const sim = simAt();
    const parent = sim.addContainer({ state: "Running" }, { request: { priority: 800 } });
    const child = sim.addContainer({}, { requestingContainerUuid: parent.uuid });
    expect(child.priority).toBe(parent.priority);
    expect(child.priority).toBe(800n * factor - BigInt(t));
  });
  it("carries the parent's priority changes down to grandchildren", () => {
    const sim = simAt();
    const parent = sim.addContainer({ state: "Running" });
    const child = sim.addContainer({ state: "Running" }, { requestingContainerUuid: parent.uuid });
    const grandchild = sim.addContainer({}, { requestingContainerUuid: child.uuid });
    const raised = containerPriority(900, t);
    sim.setPriority(parent.uuid, raised);
    expect(sim.getContainer(child.uuid)?.priority).toBe(raised);
    expect(sim.getContainer(grandchild.uuid)?.priority).toBe(raised);
  });
  it("gives Queued, Locked and Running children priority 0 once the parent finishes, and leaves finished ones alone", () => {
    const sim = simAt();
    const parent = sim.addContainer({ state: "Running" });
    const waiting = sim.addContainer({}, { requestingContainerUuid: parent.uuid });
    const running = sim.addContainer({ state: "Running" }, { requestingContainerUuid: parent.uuid });
    const grandchild = sim.addContainer({}, { requestingContainerUuid: running.uuid });
    const done = sim.addContainer({ state: "Complete" }, { requestingContainerUuid: parent.uuid });
    sim.finishContainer(parent.uuid, "Cancelled");
    expect(sim.getContainer(waiting.uuid)?.priority).toBe(0n);
    expect(sim.getContainer(running.uuid)?.priority).toBe(0n);
    expect(sim.getContainer(grandchild.uuid)?.priority).toBe(0n);
    expect(sim.getContainer(done.uuid)?.priority).toBe(parent.priority);
  });
  it("does the same when the parent finishes through the API", () => {
    const { service, store, add, root } = api();
    const parent = add({ state: "Running" });
    const child = add({ state: "Queued" });
    service.adopt(child.uuid, parent.uuid);
    service.update(root, parent.uuid, { container: { state: "Complete", exit_code: 0 } });
    expect(store.get(child.uuid)?.priority).toBe(0n);
  });
  it("gives a child whose own request has priority 0 priority 0", () => {
    const sim = simAt();
    const parent = sim.addContainer({ state: "Running" });
    expect(sim.addContainer({}, { requestingContainerUuid: parent.uuid, request: { priority: 0 } }).priority).toBe(0n);
  });
  it("refuses an unknown requesting container with 404", () => {
    expect(
      simFailure(() => simAt().addContainer({}, { requestingContainerUuid: "zzzzz-dz642-zzzzzzzzzzzzzzz" })).status,
    ).toBe(404);
  });
});

describe("§5.6 admins set priority directly, exactly", () => {
  it("stores a fixture's priority exactly: a bigint, a decimal string or a safe integer", () => {
    const sim = simAt();
    expect(sim.addContainer({ priority: 9223372036854775807n }).priority).toBe(9223372036854775807n);
    expect(sim.addContainer({ priority: "562949953421311999" }).priority).toBe(562949953421311999n);
    expect(sim.addContainer({ priority: 3 }).priority).toBe(3n);
  });
  it.each([[2 ** 60], [-1], [1.5], ["5e17"], [2n ** 63n]])("refuses the fixture priority %s with 400", (priority) => {
    expect(simFailure(() => simAt().addContainer({ priority })).status).toBe(400);
  });
  it("sets priority as the database does: the exact value, modified_at unchanged, a new etag", () => {
    const sim = simAt();
    const c = sim.addContainer();
    const after = sim.setPriority(c.uuid, "562949953421311999");
    expect(after.priority).toBe(562949953421311999n);
    expect(after.modified_at).toBe(c.modified_at);
    expect(after.etag).not.toBe(c.etag);
    expect(sim.setPriority(c.uuid, 9223372036854775807n).priority).toBe(9223372036854775807n);
    expect(simFailure(() => sim.setPriority(c.uuid, -1)).status).toBe(400);
    expect(simFailure(() => sim.setPriority(c.uuid, 2 ** 60)).status).toBe(400);
  });
  it("reads an admin's update from JSON text exactly, up to 2^63 − 1", () => {
    const { service, add, root } = api();
    const c = add();
    expect(service.update(root, c.uuid, { container: '{"priority":9223372036854775807}' }).priority).toBe(
      9223372036854775807n,
    );
    expect(service.update(root, c.uuid, { container: '{"priority":562949953421311999}' }).priority).toBe(
      562949953421311999n,
    );
  });
  it("refuses priorities past int64, below 0 and not integers with 422", () => {
    const { service, add, root } = api();
    const c = add();
    expect(
      failure(() => service.update(root, c.uuid, { container: '{"priority":9223372036854775808}' })),
    ).toMatchObject({
      status: 422,
      messages: [
        "#<ActiveModel::RangeError: 9223372036854775808 is out of range for ActiveModel::Type::Integer with limit 8 bytes>",
      ],
    });
    expect(failure(() => service.update(root, c.uuid, { container: '{"priority":-1}' })).messages).toContain(
      "Priority must be greater than or equal to 0",
    );
    expect(failure(() => service.update(root, c.uuid, { container: '{"priority":1.5}' })).messages).toContain(
      "Priority must be an integer",
    );
  });
});

describe("§5.4 lock refuses priority <= 0, exactly", () => {
  it("locks priority 1 and 2^63 − 1, replying with the exact priority", () => {
    const { service, add, root } = api();
    expect(service.lock(root, add({ priority: 1 }).uuid).state).toBe("Locked");
    expect(service.lock(root, add({ priority: 9223372036854775807n }).uuid).priority).toBe(9223372036854775807n);
  });
  it("refuses priority 0", () => {
    const { service, add, root } = api();
    expect(failure(() => service.lock(root, add({ priority: 0n }).uuid)).messages).toEqual([
      "#<ArvadosModel::LockFailedError: cannot lock when priority<=0>",
    ]);
  });
});

describe("§5.7 filters and order compare int64 priorities exactly", () => {
  /** Two containers whose priorities differ by 1 above 2^53, the higher one with the lower uuid. */
  function twoApart() {
    const env = api();
    const high = env.add({ priority: containerPriority(500, t) });
    const low = env.add({ priority: containerPriority(500, t + 1) });
    return { ...env, high, low };
  }
  it("holds two priorities 1 apart that one double cannot tell apart", () => {
    const { high, low } = twoApart();
    expect(high.priority - low.priority).toBe(1n);
    expect(Number(high.priority)).toBe(Number(low.priority));
  });
  it("compares a string operand exactly (['priority','>','<digits>'])", () => {
    const { list, high, low } = twoApart();
    expect(uuids(list({ filters: [["priority", ">", String(low.priority)]] }))).toEqual([high.uuid]);
    expect(uuids(list({ filters: [["priority", "<", String(high.priority)]] }))).toEqual([low.uuid]);
    expect(uuids(list({ filters: [["priority", ">", "0"]], order: "uuid" }))).toEqual([high.uuid, low.uuid]);
  });
  it("compares an integer operand past 2^53 exactly ('=', '>=', 'in', 'not in')", () => {
    const { list, high, low } = twoApart();
    expect(uuids(list({ filters: [["priority", "=", low.priority]] }))).toEqual([low.uuid]);
    expect(uuids(list({ filters: [["priority", ">=", high.priority]] }))).toEqual([high.uuid]);
    expect(uuids(list({ filters: [["priority", "in", [high.priority]]] }))).toEqual([high.uuid]);
    expect(uuids(list({ filters: [["priority", "not in", [high.priority]]] }))).toEqual([low.uuid]);
  });
  it("orders 'priority desc' exactly: the higher first, although uuid desc would put the other first", () => {
    const { list, high, low } = twoApart();
    expect(uuids(list({ order: "priority desc", select: [...queueSelect] }))).toEqual([high.uuid, low.uuid]);
    expect(uuids(list({ order: "priority asc", select: [...queueSelect] }))).toEqual([low.uuid, high.uuid]);
  });
  it("refuses a string operand past int64 as the database does, with 422", () => {
    const { list } = api();
    expect(failure(() => list({ filters: [["priority", ">", "9223372036854775808"]] })).messages).toEqual([
      '#<ActiveRecord::StatementInvalid: PG::NumericValueOutOfRange: ERROR:  value "9223372036854775808" is out of range for type bigint>',
    ]);
  });
});

describe("timestamps: RFC 3339 UTC with the microseconds PostgreSQL stores, padded to nine digits", () => {
  it("renders microseconds as the API server's %N does", () => {
    expect(formatTimestamp(1796626951123456n)).toBe("2026-12-07T07:02:31.123456000Z");
  });
  it("truncates written times and filter operands to microseconds, in UTC", () => {
    expect(normalizeTimestamp("2026-12-07T07:02:31.123456789Z")).toBe("2026-12-07T07:02:31.123456000Z");
    expect(normalizeTimestamp("2026-12-07 09:02:31.5+02:00")).toBe("2026-12-07T07:02:31.500000000Z");
  });
  it("takes microseconds from the wall clock", () => {
    const reads = Array.from({ length: 20 }, () => wallClockMicros());
    expect(reads.some((us) => us % 1000n !== 0n)).toBe(true);
    expect(Number(reads[0] ?? 0n) / 1000 - Date.now()).toBeLessThan(1000);
  });
  it("hands out strictly increasing timestamps in the API's format", () => {
    const clock = new SimClock();
    const times = Array.from({ length: 50 }, () => clock.now());
    for (const time of times) expect(time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}000Z$/);
    expect([...times].sort()).toEqual(times);
    expect(new Set(times).size).toBe(times.length);
  });
});

describe("runtime_constraints sizes are int64 bytes", () => {
  it("accepts and renders ram, keep_cache_ram and keep_cache_disk up to 2^63 − 1", () => {
    const { service, root } = api();
    const body =
      '{"command":["true"],"container_image":"d41d8cd98f00b204e9800998ecf8427e+0","output_path":"/out","runtime_constraints":{"ram":9223372036854775807,"vcpus":1,"keep_cache_ram":9223372036854775807,"keep_cache_disk":9223372036854775807}}';
    const created = service.create(root, { container: body });
    // Numbers here: past 2^53 bytes they are rounded, never refused.
    expect(created.runtime_constraints).toMatchObject({
      ram: 2 ** 63,
      keep_cache_ram: 2 ** 63,
      keep_cache_disk: 2 ** 63,
    });
  });
});
