import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { ArvadosApiError, ArvadosNetworkError, ArvadosResponseError } from "../../lib/arvados/errors.js";
import type { ContainerApi } from "../../lib/model/container-api.js";
import type { Container } from "../../lib/model/container.js";
import { KeysetPagingError, OffsetPageCapError, PagingError, maxOffsetPages, pollQueue } from "../../lib/queue/poll.js";
import { Queue } from "../../lib/queue/queue.js";
import type { QueueEntry } from "../../lib/model/entry.js";
import { QueueStore } from "../../lib/store/queue-store.js";
import { type HostileHarness, hostileHarness, rejectionOf } from "../support/hostile-harness.js";

/*
 * Hostile replies to update-queue's poll (§1.5–1.7). Whatever the server sends, an update either
 * succeeds or fails with a typed error that says what was wrong, and a failed update leaves the
 * table exactly as it was: no entry written, none removed, the threshold where it was. The next
 * update against a sane server then converges.
 *
 * One harness serves the whole file; each test starts from a fresh baseline (one successful
 * update over a known set of containers) and ends with that set converged again.
 */

let h: HostileHarness;
/** Containers the sim holds that the queue must cache: Queued with priority > 0, or locked by us. */
let expected: Set<string>;

beforeAll(async () => {
  h = await hostileHarness();
});
afterAll(async () => {
  await h.close();
});

/** Empties the simulator and the cache, then caches two containers: one Queued, one Locked by us. */
async function baseline(): Promise<void> {
  h.sim.clearFaults();
  for (const uuid of Object.keys(await h.snapshot())) if (!uuid.startsWith("#")) h.sim.deleteContainer(uuid);
  await h.update();
  const a = h.sim.addContainer({ state: "Queued", priority: 3 });
  const b = h.sim.addContainer({ state: "Locked", priority: 2 });
  expected = new Set([a.uuid, b.uuid]);
  await h.update();
  expect(await cachedUuids()).toEqual(expected);
}
beforeEach(baseline);

/** Runs `test` against a harness of its own, for a test whose failure could leave writes landing late. */
async function isolated(test: () => Promise<void>): Promise<void> {
  const shared = h;
  h = await hostileHarness();
  try {
    await baseline();
    await test();
  } finally {
    await h.close();
    h = shared;
  }
}

async function cachedUuids(): Promise<Set<string>> {
  return new Set((await h.queue.entries()).entries.keys());
}

/**
 * Runs `fail` (which must reject), checks the table is byte-for-byte what it was, then checks that
 * the next plain update succeeds and caches exactly what the simulator holds. Returns the error.
 */
async function failsCleanlyThenConverges(fail: () => Promise<unknown>): Promise<Error> {
  // A container that arrives meanwhile: a half-done update would have written it.
  const late = h.sim.addContainer({ state: "Queued", priority: 9 });
  const before = await h.snapshot();
  const thresholdBefore = (await h.queue.entries()).threshold;
  const err = await rejectionOf(fail());
  expect(await h.snapshot()).toEqual(before);
  expect((await h.queue.entries()).threshold).toEqual(thresholdBefore);
  h.sim.clearFaults();
  const report = await h.update();
  expected.add(late.uuid);
  expect(await cachedUuids()).toEqual(expected);
  expect((await h.queue.entries()).threshold?.toISOString()).toBe(report.startedAt);
  return err;
}

const listRoute = "GET /arvados/v1/containers";

/** A well-formed polled record (the §1.6 select) for a container the sim does not have. */
let serial = 0;
function record(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  serial++;
  return {
    kind: "arvados#container",
    uuid: `zzzzz-dz642-hostile${String(serial).padStart(8, "0")}`,
    state: "Queued",
    priority: 1,
    runtime_constraints: {
      API: false,
      ram: 268435456,
      vcpus: 1,
      keep_cache_ram: 0,
      keep_cache_disk: 0,
      gpu: { stack: "", driver_version: "", hardware_target: [], device_count: 0, vram: 0 },
    },
    container_image: "d41d8cd98f00b204e9800998ecf8427e+0",
    scheduling_parameters: { partitions: [], preemptible: false, max_run_time: 0, supervisor: false },
    created_at: "2026-01-01T00:00:00.000000000Z",
    ...overrides,
  };
}

function listBody(items: unknown[]): string {
  return JSON.stringify({ kind: "arvados#containerList", etag: "", self_link: "", offset: 0, limit: 1000, items });
}

/**
 * The first page of both lists of the next poll ("mine" and "avail") is this page; "mine" then
 * gets the empty page a server sends once its keyset (uuid > last) is past the end.
 */
function replaceLists(items: unknown[]): void {
  h.sim.injectFault({ route: listRoute, count: 1, effect: { kind: "replace", body: listBody(items) } });
  if (items.length > 0)
    h.sim.injectFault({ route: listRoute, count: 1, effect: { kind: "replace", body: listBody([]) } });
  h.sim.injectFault({ route: listRoute, count: 1, effect: { kind: "replace", body: listBody(items) } });
}

/** The next `pages` list requests get these pages, one each, in order. */
function replacePages(...pages: unknown[][]): void {
  for (const items of pages)
    h.sim.injectFault({ route: listRoute, count: 1, effect: { kind: "replace", body: listBody(items) } });
}

/** A ContainerApi over the harness client whose uuid batches ("missing") go through `batch` first. */
function apiWithBatchHook(batch: () => void): ContainerApi {
  return {
    currentAuthorization: () => h.api.currentAuthorization(),
    listQueuedContainers: (params) => {
      if (params.filters?.[0]?.[1] === "in") batch();
      return h.api.listQueuedContainers(params);
    },
    getContainer: (uuid, select) => h.api.getContainer(uuid, select),
    getContainerMounts: (uuid) => h.api.getContainerMounts(uuid),
    updateContainer: (uuid, attrs, select) => h.api.updateContainer(uuid, attrs, select),
    lockContainer: (uuid) => h.api.lockContainer(uuid),
    unlockContainer: (uuid) => h.api.unlockContainer(uuid),
    last503: () => h.api.last503(),
  };
}

/** The field a decoding error names (container-schema.ts checks wire types and values alike). */
function fieldNamed(err: Error): string | undefined {
  return err instanceof ArvadosResponseError ? err.field : undefined;
}

describe("a malformed container record fails the update, names the field, and writes nothing", () => {
  const without = (key: string) => {
    const r = record();
    delete r[key];
    return r;
  };
  const rc = (patch: Record<string, unknown>) => ({ ...(record().runtime_constraints as object), ...patch });
  it.each<[string, () => Record<string, unknown>, string]>([
    ["a missing uuid", () => without("uuid"), "uuid"],
    ["a uuid that is a number", () => record({ uuid: 42 }), "uuid"],
    ["an unknown state Paused", () => record({ state: "Paused" }), "state"],
    ["priority -1", () => record({ priority: -1 }), "priority"],
    ['priority "5" (a string)', () => record({ priority: "5" }), "priority"],
    ["priority 1e300", () => record({ priority: 1e300 }), "priority"],
    ["runtime_constraints null", () => record({ runtime_constraints: null }), "runtime_constraints"],
    [
      "runtime_constraints.ram a string",
      () => record({ runtime_constraints: rc({ ram: "1GiB" }) }),
      "runtime_constraints",
    ],
    ["runtime_constraints.vcpus 1.5", () => record({ runtime_constraints: rc({ vcpus: 1.5 }) }), "runtime_constraints"],
    [
      "gpu.hardware_target not a list",
      () => record({ runtime_constraints: rc({ gpu: { stack: "cuda", hardware_target: "7.5", device_count: 1 } }) }),
      "runtime_constraints",
    ],
    ["scheduling_parameters a string", () => record({ scheduling_parameters: "preemptible" }), "scheduling_parameters"],
    ["created_at a number", () => record({ created_at: 1767225600 }), "created_at"],
  ])("%s", async (_name, bad, field) => {
    // Valid new records around the bad one: none of them may be written either.
    replaceLists([record(), bad(), record()]);
    const err = await failsCleanlyThenConverges(() => h.update());
    expect(err).toBeInstanceOf(ArvadosResponseError);
    expect(fieldNamed(err)?.split(".")[0]).toBe(field);
    expect(err.message).toContain(field);
  });

  it("a 1 MB container_image (past DynamoDB's 400 KB item limit) is refused before anything is written", async () => {
    await isolated(async () => {
      const huge = record({ container_image: "x".repeat(1 << 20) });
      replaceLists([record(), record(), huge, record()]);
      const err = await failsCleanlyThenConverges(() => h.update());
      expect(err.message).toContain(String(huge.uuid));
      expect(err.message).toContain("container_image");
    });
  });
});

describe("a malformed record's error says which container it is", () => {
  // An operator must be able to find the record: "items.1.priority" is not enough on a page of 1000.
  it.each<[string, Record<string, unknown>]>([
    ["an unknown state", { state: "Paused" }],
    ["a priority that is a string", { priority: "5" }],
    ["runtime_constraints.ram a string", { runtime_constraints: { ram: "1GiB", vcpus: 1 } }],
    ["created_at a number", { created_at: 1767225600 }],
  ])("%s", async (_name, patch) => {
    const bad = record(patch);
    replaceLists([record(), bad]);
    const err = await failsCleanlyThenConverges(() => h.update());
    expect(err.message).toContain(String(bad.uuid));
  });
});

describe("fields the dispatcher does not know are accepted and not stored", () => {
  it("extra fields on a record: the entry is cached with the selected fields only", async () => {
    const extra = record({ future_field: { nested: [1, 2, 3] }, api_token: "v2/zzzzz-gj3su-000000000000000/not-ours" });
    replaceLists([extra]);
    await h.update();
    const entry = await h.store.get(String(extra.uuid));
    expect(entry?.container).toMatchObject({ uuid: extra.uuid, state: "Queued", priority: 1n });
    const item = (await h.rawItems()).get(String(extra.uuid));
    expect(JSON.stringify(item)).not.toMatch(/future_field|api_token|not-ours/);
    // The sim has no such container: the next update finds it gone and removes it.
    await h.update();
    expect(await cachedUuids()).toEqual(expected);
  });

  it("extra fields on the list envelope are ignored", async () => {
    const body = JSON.stringify({ ...JSON.parse(listBody([])), items_available: 0, surprise: { a: 1 }, included: [] });
    h.sim.injectFault({ route: listRoute, count: 1, effect: { kind: "replace", body } });
    await h.update();
    expect(await cachedUuids()).toEqual(expected);
  });
});

describe("a malformed list reply fails the update with ArvadosResponseError and writes nothing", () => {
  // Each fault applies to both first pages ("mine" and "avail").
  const junk = () => Array.from({ length: 1000 }, (_, i) => [null, 7, "x", [], { uuid: 5 }, true][i % 6]);
  it.each<[string, () => void]>([
    ["a body that is not JSON", () => h.sim.injectFault({ route: listRoute, count: 2, effect: { kind: "malformed" } })],
    ["a truncated JSON body", () => h.sim.injectFault({ route: listRoute, count: 2, effect: { kind: "truncated" } })],
    [
      "an empty body with 200",
      () => h.sim.injectFault({ route: listRoute, count: 2, effect: { kind: "replace", body: "", status: 200 } }),
    ],
    ["JSON null", () => h.sim.injectFault({ route: listRoute, count: 2, effect: { kind: "replace", body: "null" } })],
    [
      "items that is not an array",
      () =>
        h.sim.injectFault({
          route: listRoute,
          count: 2,
          effect: { kind: "replace", body: JSON.stringify({ items: { 0: record() } }) },
        }),
    ],
    ["a 1000-item page of junk", () => replaceLists(junk())],
  ])("%s", async (_name, inject) => {
    inject();
    const err = await failsCleanlyThenConverges(() => h.update());
    expect(err).toBeInstanceOf(ArvadosResponseError);
    expect((err as ArvadosResponseError).status).toBe(200);
    expect(err.message).toContain("/arvados/v1/containers");
  });
});

describe("odd but well-formed list replies", () => {
  it("a page with a duplicate uuid caches one entry, the later record winning (upstream fills a map)", async () => {
    const first = record({ priority: 1 });
    const again = { ...first, priority: 7 };
    replaceLists([first, again]);
    const report = await h.update();
    expect(report.entries.filter((e) => e.container.uuid === first.uuid)).toHaveLength(1);
    expect((await h.queue.get(String(first.uuid)))?.priority).toBe(7n);
    await h.update();
    expect(await cachedUuids()).toEqual(expected);
  });

  it("a 5000-item page when 1000 were asked for is taken whole, and paging goes on from its end", async () => {
    // Polled without writing (5000 inserts would only measure DynamoDB Local).
    const items = Array.from({ length: 5000 }, () => record());
    replaceLists(items);
    h.sim.clearRequests();
    const tokenUuid = await h.queue.tokenUuid();
    const poll = await pollQueue(h.api, tokenUuid, new Map());
    for (const item of items) expect(poll.next.has(String(item.uuid))).toBe(true);
    // The keyset for "mine" continues after the last uuid of the oversized page.
    const keysets = h.sim
      .requests()
      .filter((r) => r.path === "/arvados/v1/containers")
      .map((r) => JSON.parse(String(r.params.filters)) as unknown[][])
      .filter((f) => f[1]?.[0] === "uuid");
    expect(keysets.some((f) => f[1]?.[2] === items.at(-1)?.uuid)).toBe(true);
  });
});

describe("keyset paging that makes no progress fails the update with KeysetPagingError naming the list", () => {
  it('"mine": a second page that repeats the first', async () => {
    const a = record();
    const b = record();
    replacePages([a, b], [a, b]);
    const err = await failsCleanlyThenConverges(() => h.update());
    expect(err).toBeInstanceOf(KeysetPagingError);
    expect(err).toBeInstanceOf(PagingError);
    expect(err).toMatchObject({ list: "mine", pages: 2, lastUuid: b.uuid, previousLastUuid: b.uuid });
    expect(err.message).toContain('poll "mine"');
  });

  it('"mine": a second page that ends before the first one did', async () => {
    const [early, late] = [record(), record()];
    replacePages([late], [early]);
    const err = await failsCleanlyThenConverges(() => h.update());
    expect(err).toMatchObject({
      name: "KeysetPagingError",
      list: "mine",
      lastUuid: early.uuid,
      previousLastUuid: late.uuid,
    });
  });

  it('"missing": a uuid batch whose next page repeats the container', async () => {
    const [a] = [...expected];
    h.sim.setPriority(a ?? "", 0);
    // Both lists pass; every page of the batch that re-fetches `a` is `a` again.
    const again = listBody([record({ uuid: a, priority: 0 })]);
    const api = apiWithBatchHook(() =>
      h.sim.injectFault({ route: listRoute, effect: { kind: "replace", body: again } }),
    );
    const err = await failsCleanlyThenConverges(() => h.update(h.queueFor(api)));
    expect(err).toMatchObject({ name: "KeysetPagingError", list: "missing", pages: 2, lastUuid: a });
    expect(err.message).toContain('poll "missing"');
  });
});

describe(`offset paging past ${maxOffsetPages} pages fails the update with OffsetPageCapError naming the list`, () => {
  it('"avail": a server that ignores offset and repeats a page of supervisors', async () => {
    // "mine" ends at once; every "avail" page is the same supervisors, so the 100 non-supervisor stop never comes.
    const supervisor = () =>
      record({ scheduling_parameters: { partitions: [], preemptible: false, max_run_time: 0, supervisor: true } });
    replacePages([]);
    h.sim.injectFault({
      route: listRoute,
      count: maxOffsetPages + 1,
      effect: { kind: "replace", body: listBody([supervisor(), supervisor()]) },
    });
    const err = await failsCleanlyThenConverges(() => h.update());
    expect(err).toBeInstanceOf(OffsetPageCapError);
    expect(err).toMatchObject({ list: "avail", pages: maxOffsetPages, maxPages: maxOffsetPages });
    expect(err.message).toContain(`poll "avail": offset paging still had items after ${maxOffsetPages} pages`);
  });

  it("the cap is enough for a million containers at the server's largest page of 1000", () => {
    expect(maxOffsetPages * 1000).toBeGreaterThanOrEqual(1_000_000);
  });
});

describe("API errors during an update fail it cleanly; the next update converges", () => {
  it.each([
    [401, 2],
    [403, 2],
    [404, 2],
    [500, 2],
    [502, 5],
    [503, 5],
    [504, 5],
  ])("%i on the list (%i in a row: both first pages)", async (status, count) => {
    h.sim.injectFault({ route: listRoute, count, effect: { kind: "status", status, message: `simulated ${status}` } });
    const err = await failsCleanlyThenConverges(() => h.update());
    expect(err).toBeInstanceOf(ArvadosApiError);
    expect(err).toMatchObject({ status, path: "/arvados/v1/containers" });
    expect(err.message).toContain(`simulated ${status}`);
  });

  it("a 503 burst shorter than the retries is ridden out within the same update", async () => {
    h.sim.injectFault({ route: listRoute, count: 1, effect: { kind: "status", status: 503 } });
    const late = h.sim.addContainer({ state: "Queued", priority: 4 });
    await h.update();
    expect(await cachedUuids()).toEqual(new Set([...expected, late.uuid]));
    expected.add(late.uuid);
    expect(h.api.last503()).toBeInstanceOf(Date);
  });

  it("a token the server does not accept: 401 from the token lookup", async () => {
    const stranger = h.client({ token: "v2/zzzzz-gj3su-000000000000000/wrong-secret-0000000000" });
    const err = await failsCleanlyThenConverges(() => h.update(h.queueFor(stranger)));
    expect(err).toBeInstanceOf(ArvadosApiError);
    expect(err).toMatchObject({ status: 401, path: "/arvados/v1/api_client_authorizations/current" });
    expect((err as ArvadosApiError).isUnauthorized).toBe(true);
  });

  it("a 401 on the token lookup is not remembered: the same Queue succeeds once the server accepts it", async () => {
    const q = h.queueFor(h.client());
    h.sim.injectFault({
      route: "GET /arvados/v1/api_client_authorizations/current",
      effect: { kind: "status", status: 401 },
    });
    await failsCleanlyThenConverges(() => h.update(q));
    await h.update(q);
    expect(await cachedUuids()).toEqual(expected);
  });

  it("a server slower than the client's timeout: ArvadosNetworkError timedOut", async () => {
    const impatient = h.client({ timeoutMs: 200, retry: { attempts: 1 } });
    h.sim.injectFault({ route: listRoute, count: 2, effect: { kind: "delay", ms: 2_000 } });
    const err = await failsCleanlyThenConverges(() => h.update(h.queueFor(impatient)));
    expect(err).toBeInstanceOf(ArvadosNetworkError);
    expect(err).toMatchObject({ timedOut: true, path: "/arvados/v1/containers" });
  });

  it("connections reset on every attempt: ArvadosNetworkError", async () => {
    h.sim.injectFault({ route: listRoute, count: 6, effect: { kind: "reset" } });
    const err = await failsCleanlyThenConverges(() => h.update());
    expect(err).toBeInstanceOf(ArvadosNetworkError);
    expect(err).toMatchObject({ timedOut: false, path: "/arvados/v1/containers" });
  });

  it("a uuid batch that fails after both lists succeeded still writes nothing", async () => {
    const [a] = [...expected];
    h.sim.setPriority(a ?? "", 0);
    // The lists pass; the batch that re-fetches the entry that dropped out of them gets a 500.
    let batches = 0;
    const api = apiWithBatchHook(() => {
      batches++;
      h.sim.injectFault({ route: listRoute, effect: { kind: "status", status: 500 } });
    });
    const err = await failsCleanlyThenConverges(() => h.update(h.queueFor(api)));
    expect(batches).toBe(1);
    expect(err).toMatchObject({ status: 500 });
    expect((await h.queue.get(a ?? ""))?.priority).toBe(0n);
  });
});

describe("a failed update has stopped all its work when it returns", () => {
  // update-queue releases the lease as soon as update() rejects (update-loop.ts), and Lambda may
  // freeze the environment: work still running then overlaps the next invocation's.
  it("no write it started is still in flight", () =>
    isolated(async () => {
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let inFlight = 0;
      let failed = false;
      const store = new (class extends QueueStore {
        override async insertNew(entry: QueueEntry): Promise<boolean> {
          if (entry.container.container_image === "boom") {
            failed = true;
            throw new Error("simulated write failure");
          }
          if (entry.container.container_image !== "slow") return super.insertNew(entry);
          inFlight++;
          try {
            await gate;
            return await super.insertNew(entry);
          } finally {
            inFlight--;
          }
        }
      })(h.ddb, h.tableName);
      const queue = new Queue(h.api, store, { leaseOwner: "gated", leaseMs: 60_000 });
      replaceLists([record({ container_image: "slow" }), record({ container_image: "boom" })]);
      let settled = false;
      const update = queue.update().finally(() => {
        settled = true;
      });
      update.catch(() => undefined);
      await vi.waitFor(() => expect(failed).toBe(true));
      for (let i = 0; i < 50 && !settled; i++) await new Promise((resolve) => setImmediate(resolve));
      const returnedWhileWriting = settled && inFlight > 0;
      release();
      await rejectionOf(update);
      await vi.waitFor(() => expect(inFlight).toBe(0));
      await queue.releaseUpdateLease();
      expect(returnedWhileWriting).toBe(false);
    }));

  it("no request of its poll is still in flight", () =>
    isolated(async () => {
      let inFlight = 0;
      const counted = <T>(call: Promise<T>) => {
        inFlight++;
        return call.finally(() => {
          inFlight--;
        });
      };
      const api: ContainerApi = {
        currentAuthorization: () => h.api.currentAuthorization(),
        listQueuedContainers: (params) => counted(h.api.listQueuedContainers(params)),
        getContainer: (uuid, select) => h.api.getContainer(uuid, select),
        getContainerMounts: (uuid) => h.api.getContainerMounts(uuid),
        updateContainer: (uuid, attrs, select) => h.api.updateContainer(uuid, attrs, select),
        lockContainer: (uuid) => h.api.lockContainer(uuid),
        unlockContainer: (uuid) => h.api.unlockContainer(uuid),
        last503: () => h.api.last503(),
      };
      // One first page fails at once; the other is slow.
      h.sim.injectFault({ route: listRoute, effect: { kind: "status", status: 500 } });
      h.sim.injectFault({ route: listRoute, effect: { kind: "delay", ms: 2_000 } });
      let inFlightAtReturn = -1;
      await rejectionOf(
        h.update(h.queueFor(api)).catch((err: unknown) => {
          inFlightAtReturn = inFlight;
          throw err;
        }),
      );
      expect(inFlightAtReturn).toBe(0);
    }));
});

describe("a container the simulator stores with odd but legal values", () => {
  it("a record with every optional field at its zero value is cached with upstream's defaults", async () => {
    const c: Container = h.sim.addContainer({
      state: "Queued",
      priority: 1,
      runtime_constraints: {},
      scheduling_parameters: {},
      container_image: "",
    });
    await h.update();
    expect(await h.queue.get(c.uuid)).toMatchObject({
      runtime_constraints: {
        ram: 0,
        vcpus: 0,
        keep_cache_ram: 0,
        keep_cache_disk: 0,
        gpu: { hardware_target: [], device_count: 0 },
      },
      scheduling_parameters: { partitions: [], preemptible: false, max_run_time: 0, supervisor: false },
      container_image: "",
    });
    expected.add(c.uuid);
  });
});
