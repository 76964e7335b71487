import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import type { QueueEntry } from "../../lib/model/entry.js";
import { entryToItem } from "../../lib/store/item-codec.js";
import { type Json, passesFilters, patternMatches } from "../../local/event-filter.js";
import { queueEntry } from "../support/fixtures.js";
import { type PackagedTemplate, packageTemplate } from "../support/package-template.js";

/*
 * The stream filters in the packaged template, run against stream records whose images are
 * made by the store's own codec, so a change of item layout that would silently starve a
 * function fails here. The matcher (local/event-filter.ts, shared with the local runner) implements the part of Lambda's event-filtering rule syntax
 * (EventBridge pattern rules) these filters use, with AWS's semantics where they bite:
 * `numeric` matches JSON numbers only (a stream image's {"N": "5"} is a string), `exists`
 * looks at leaves only, arrays match when any element does. Anything else in a pattern is an
 * error here, so a filter can't use syntax this test does not understand.
 */

function delivered(filters: Json[], record: StreamRecord): boolean {
  return passesFilters(filters, record);
}

// --- stream records ---------------------------------------------------------------------

type Image = Record<string, AttributeValue>;
interface StreamRecord {
  eventName: "INSERT" | "MODIFY" | "REMOVE";
  dynamodb: { Keys: Image; NewImage?: Image; OldImage?: Image };
}

const key = (uuid: string): Image => ({ uuid: { S: uuid } });

function insert(item: Image): StreamRecord {
  return { eventName: "INSERT", dynamodb: { Keys: key(item.uuid?.S ?? ""), NewImage: item } };
}
function modify(before: Image, after: Image): StreamRecord {
  return { eventName: "MODIFY", dynamodb: { Keys: key(after.uuid?.S ?? ""), OldImage: before, NewImage: after } };
}
function remove(item: Image): StreamRecord {
  return { eventName: "REMOVE", dynamodb: { Keys: key(item.uuid?.S ?? ""), OldImage: item } };
}

/** Chosen types, as an entry holds them: their names, cheapest first. */
const typed: Partial<QueueEntry> = { instanceTypes: ["m5.large", "m5.xlarge"] };
const launched: Partial<QueueEntry> = {
  ...typed,
  launch: {
    instanceId: "i-0123456789abcdef0",
    instanceType: "m5.large",
    attempt: 1,
    launchedAt: "2026-01-01T00:01:00.000Z",
  },
};
/** A container entry as the store writes it. */
const item = (container: Parameters<typeof queueEntry>[1] = {}, entry: Partial<QueueEntry> = {}): Image =>
  entryToItem(queueEntry(1, container, entry));
const metaItem = (uuid: string, fields: Record<string, unknown>): Image => marshall({ uuid, ...fields });

let t: PackagedTemplate;
// The fixtures' cluster is zzzzz: the dev stage's clusterId.
beforeAll(async () => {
  t = await packageTemplate({ stage: "dev" });
}, 120_000);

const filtersOf = (name: string): Json[] =>
  (t.eventSourceMappings(name)[0]?.FilterCriteria?.Filters ?? []).map((f) => JSON.parse(f.Pattern) as Json);

describe("the filter matcher follows Lambda's rules where they differ from intuition", () => {
  it("a numeric rule never matches a DynamoDB number, which a stream image carries as a string", () => {
    const pattern = { dynamodb: { NewImage: { priority: { N: [{ numeric: [">", 0] }] } } } };
    const record = insert(marshall({ uuid: "x", priority: 5n }));
    expect(record.dynamodb.NewImage?.priority).toEqual({ N: "5" });
    expect(patternMatches(pattern, JSON.parse(JSON.stringify(record)))).toBe(false);
  });

  it("exists looks at leaves only: a map attribute is not a leaf", () => {
    const record = JSON.parse(JSON.stringify(insert(item({}, launched)))) as Json;
    expect(patternMatches({ dynamodb: { NewImage: { launch: [{ exists: true }] } } }, record)).toBe(false);
    expect(
      patternMatches({ dynamodb: { NewImage: { launch: { M: { instanceId: { S: [{ exists: true }] } } } } } }, record),
    ).toBe(true);
  });

  it("a field inside a list matches when any element's does", () => {
    const record = JSON.parse(JSON.stringify(insert(item({}, typed)))) as Json;
    const pattern = { dynamodb: { NewImage: { instanceTypes: { L: { S: ["m5.xlarge"] } } } } };
    expect(patternMatches(pattern, record)).toBe(true);
  });
});

describe("choose-instance-types is invoked for each new container entry, and only for those", () => {
  const chooses = (record: StreamRecord) => delivered(filtersOf("choose-instance-types"), record);

  it("accepts the insert of a container entry", () => {
    expect(chooses(insert(item()))).toBe(true);
  });

  it("accepts the insert of a Locked container entry (a container this dispatcher already holds)", () => {
    expect(chooses(insert(item({ state: "Locked" })))).toBe(true);
  });

  it("ignores changes to an existing entry, including its types being filled in", () => {
    expect(chooses(modify(item(), item({}, typed)))).toBe(false);
  });

  it("ignores removals", () => {
    expect(chooses(remove(item()))).toBe(false);
  });

  it.each(["#queue", "#capacity/m5.large", "#quota", "#launch-tokens", "#launch-pass"])(
    "ignores the meta item %s",
    (uuid) => {
      expect(chooses(insert(metaItem(uuid, { version: 1 })))).toBe(false);
    },
  );

  it("ignores a container of another cluster", () => {
    expect(
      chooses(
        insert(
          entryToItem({
            ...queueEntry(1),
            container: { ...queueEntry(1).container, uuid: "xyzzy-dz642-000000000000001" },
          }),
        ),
      ),
    ).toBe(false);
  });
});

describe("launch is invoked for each launchable change: Queued or Locked, priority > 0, types chosen, no instance", () => {
  const launches = (record: StreamRecord) => delivered(filtersOf("launch"), record);

  it("accepts the MODIFY that gives a Queued entry its instance types", () => {
    expect(launches(modify(item(), item({}, typed)))).toBe(true);
  });

  it("accepts the lock of an entry with types and no instance yet", () => {
    expect(launches(modify(item({}, typed), item({ state: "Locked" }, typed)))).toBe(true);
  });

  it("accepts a priority raised from 0", () => {
    expect(launches(modify(item({ priority: 0n }, typed), item({ priority: 1000n }, typed)))).toBe(true);
  });

  it("accepts an entry inserted with its types already chosen", () => {
    expect(launches(insert(item({}, typed)))).toBe(true);
  });

  it("rejects an entry without instance types", () => {
    expect(launches(insert(item()))).toBe(false);
    expect(launches(modify(item(), item({ priority: 2n })))).toBe(false);
  });

  it("rejects an entry with an empty list of instance types", () => {
    expect(launches(modify(item(), item({}, { instanceTypes: [] })))).toBe(false);
  });

  it("rejects priority 0 (cancelled by its requester, or not yet wanted)", () => {
    expect(launches(modify(item({}, typed), item({ priority: 0n }, typed)))).toBe(false);
  });

  it.each(["Running", "Complete", "Cancelled"] as const)("rejects a %s entry", (state) => {
    expect(launches(modify(item({ state: "Locked" }, launched), item({ state }, typed)))).toBe(false);
  });

  it("rejects an entry whose instance is already launched", () => {
    expect(launches(modify(item({ state: "Locked" }, typed), item({ state: "Locked" }, launched)))).toBe(false);
  });

  it("rejects removals, even of a launchable entry", () => {
    expect(launches(remove(item({}, typed)))).toBe(false);
  });

  it.each(["#queue", "#capacity/m5.large", "#launch-tokens", "#launch-pass"])("rejects the meta item %s", (uuid) => {
    expect(launches(modify(metaItem(uuid, { version: 1 }), metaItem(uuid, { version: 2 })))).toBe(false);
  });
});

describe("launch is woken by a relayed wake-up: the #launch-wake item update-queue stamps (one queue, not two)", () => {
  const launches = (record: StreamRecord) => delivered(filtersOf("launch"), record);
  const chooses = (record: StreamRecord) => delivered(filtersOf("choose-instance-types"), record);
  const wake = (firedAt: number) => marshall({ uuid: "#launch-wake", firedAt, reason: "throttle" });

  it("accepts the first relay and each later one", () => {
    expect(launches(insert(wake(1)))).toBe(true);
    expect(launches(modify(wake(1), wake(2)))).toBe(true);
  });

  it("is not a container insert for choose-instance-types", () => {
    expect(chooses(insert(wake(1)))).toBe(false);
  });
});

describe("launch is not woken by the scheduling statuses it writes itself", () => {
  const launches = (record: StreamRecord) => delivered(filtersOf("launch"), record);
  /** The image after setSchedulingStatusRequest: the status and the status-only mark. */
  const withStatus = (image: Image, status: string): Image => ({
    ...image,
    schedulingStatus: { S: status },
    statusOnly: { BOOL: true },
  });
  const waiting =
    "Waiting in queue at position 2.  Cluster is at capacity and cannot start any new instances right now.";

  it("rejects a change of a launchable entry's scheduling status alone", () => {
    const before = item({}, typed);
    expect(launches(modify(before, withStatus(before, waiting)))).toBe(false);
    const locked = item({ state: "Locked" }, typed);
    expect(
      launches(
        modify(withStatus(locked, waiting), withStatus(locked, "Waiting for previous container attempt to exit.")),
      ),
    ).toBe(false);
  });

  it("accepts the next change that may make it launchable: that write removes the mark, the status stays", () => {
    const before = withStatus(item({}, typed), waiting);
    const { statusOnly: _mark, ...locked } = withStatus(item({ state: "Locked" }, typed), waiting);
    expect(launches(modify(before, locked))).toBe(true);
  });
});
