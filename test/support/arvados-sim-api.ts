import { stringifyArvadosJson } from "../../lib/model/exact-json.js";
import { SimClock } from "../../local/arvados-sim/clock.js";
import { SimError } from "../../local/arvados-sim/errors.js";
import { fixtureRecord } from "../../local/arvados-sim/fixture.js";
import { ContainerService, type SimSettings } from "../../local/arvados-sim/service.js";
import { ContainerStore } from "../../local/arvados-sim/store.js";
import { TokenRegistry, callerOf } from "../../local/arvados-sim/tokens.js";

/**
 * The simulator's API without HTTP: a service, its tokens, a fixture factory and a wire-shaped
 * list call. The clock stands at 2024-01-01 (each timestamp 1 µs after the last), so a
 * fixture's default priority is that of a request of priority 500 made then: 500 × 2^50 −
 * 1704067200000.
 */
export function simApi(settings: Partial<SimSettings> = {}) {
  const tokens = new TokenRegistry("zzzzz", "rootsecret");
  const store = new ContainerStore();
  const clock = new SimClock(() => new Date(Date.UTC(2024, 0, 1)));
  const service = new ContainerService(
    store,
    tokens,
    clock,
    { maxDispatchAttempts: 10, maxItemsPerResponse: 1000, shortPage: undefined, ...settings },
    "zzzzz",
  );
  const add = (fields: Record<string, unknown> = {}) => {
    const record = fixtureRecord(fields, {
      uuid: service.nextUuid(),
      now: clock.now(),
      lockedBy: tokens.root.uuid,
      ownerUuid: tokens.root.userUuid,
      newAuthUuid: () => tokens.newAuthUuid(),
    });
    store.put(record);
    return record;
  };
  const root = callerOf(tokens.root);
  /** A list as the wire delivers it: JSON values as text, int64 priorities as their digits. */
  const list = (params: Record<string, unknown>, caller = root) => {
    const wire: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(params))
      wire[k] = typeof v === "string" || typeof v === "number" ? String(v) : stringifyArvadosJson(v);
    const body = service.index(caller, wire);
    return body as { items: Record<string, unknown>[]; items_available?: number; limit: number; offset: number };
  };
  return {
    service,
    store,
    add,
    list,
    root,
    otherDispatcher: callerOf(tokens.add({ admin: true })),
    user: callerOf(tokens.add({ admin: false })),
  };
}

/** The SimError `fn` must throw; fails the test if it throws nothing. */
export function simFailure(fn: () => unknown): SimError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SimError) return error;
    throw error;
  }
  throw new Error("expected a SimError");
}
