import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import type { DynamoDBStreamEvent } from "aws-lambda";
import type { CleanupLiveDeps } from "../cleanup/ports.js";
import type { LiveEntriesDeps } from "../launch/ports.js";
import { isFinalState } from "../model/container.js";
import type { QueueEntry } from "../model/entry.js";
import { ActiveEntriesStore } from "../store/active-entries.js";
import { itemToEntry } from "../store/item-codec.js";
import { QueueIndexStore } from "../store/queue-index.js";
import type { DispatchRuntime } from "./environment.js";

/** The `active` index and launch's recent writes on the runtime's table (one store: both are queue-table reads). */
export function activeEntriesOf(runtime: Pick<DispatchRuntime, "ddb" | "store">): ActiveEntriesStore {
  return new ActiveEntriesStore(runtime.ddb, runtime.store.tableName);
}

/** The container entries a stream batch's new images carry (meta items and removals are none). */
export function streamEntries(event: unknown): QueueEntry[] {
  const records = (event as Partial<DynamoDBStreamEvent>).Records;
  if (!Array.isArray(records)) return [];
  return records.flatMap((r) => {
    const image = r.dynamodb?.NewImage as Record<string, AttributeValue> | undefined;
    const entry = image === undefined ? undefined : itemToEntry(image);
    return entry === undefined ? [] : [entry];
  });
}

/** What a launch pass reads in place of a scan, for this event (lib/launch/live-entries.ts). */
export function liveEntriesFor(store: ActiveEntriesStore, event: unknown): LiveEntriesDeps {
  return { entries: store, writes: store, fresher: streamEntries(event) };
}

/**
 * What cleanup reads in place of a scan: `#queue` (the threshold first, consistently), then the
 * queue index for the finished uuids, and the `active` index for the live entries.
 */
export function cleanupLiveFor(
  runtime: Pick<DispatchRuntime, "ddb" | "store">,
  store: ActiveEntriesStore,
): CleanupLiveDeps {
  const index = new QueueIndexStore(runtime.ddb, runtime.store.tableName);
  return {
    entries: store,
    cacheMeta: async () => {
      const meta = await runtime.store.meta();
      const shards = meta.indexShards;
      const snapshot = typeof shards === "number" && shards > 0 ? await index.read(shards) : undefined;
      if (snapshot === undefined) return undefined;
      const finished = [...snapshot.index]
        .filter(([, r]) => isFinalState(r.state))
        .map(([uuid, r]) => ({ uuid, state: r.state }));
      return { threshold: meta.threshold === undefined ? undefined : new Date(meta.threshold), finished };
    },
  };
}
