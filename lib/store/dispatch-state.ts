import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { type DispatchState, initialDispatchState } from "../model/dispatch-state.js";
import { metaKey } from "./item-codec.js";
import { SharedState } from "./shared-state.js";

/** The shared `#capacity` item. */
export function dispatchState(
  ddb: DynamoDBClient,
  tableName: string,
  maxContainers: number,
): SharedState<DispatchState> {
  return new SharedState(ddb, tableName, metaKey.capacity, () => initialDispatchState(maxContainers));
}

/**
 * Shares the time of a 503 from the Arvados API (§3.3: the dynamic limit stays low for a quiet
 * minute after one, whichever function saw it). Writes only when `at` is newer than what is held.
 */
export async function recordApi503(state: SharedState<DispatchState>, at: Date | undefined): Promise<void> {
  if (at === undefined) return;
  const { value } = await state.read();
  if (value.lastApi503 !== undefined && value.lastApi503 >= at.getTime()) return;
  await state.modify((s) => ({
    next: s.lastApi503 !== undefined && s.lastApi503 >= at.getTime() ? s : { ...s, lastApi503: at.getTime() },
    result: undefined,
  }));
}
