/**
 * The envelope EventBridge wraps every event in, as a Lambda target receives it. The account is
 * the local runner's fixed fake one; `time` has whole seconds, as EventBridge writes it.
 */
import { randomUUID } from "node:crypto";

/** A type, not an interface, so that an event is also plain `Json` for the event rules. */
export type EventBridgeEvent<TDetailType extends string, TDetail> = {
  version: "0";
  id: string;
  "detail-type": TDetailType;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: TDetail;
};

export const localAccount = "000000000000";

export function eventBridgeEvent<TDetailType extends string, TDetail>(
  detailType: TDetailType,
  source: string,
  resources: string[],
  detail: TDetail,
  region: string,
  now = new Date(),
): EventBridgeEvent<TDetailType, TDetail> {
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": detailType,
    source,
    account: localAccount,
    time: now.toISOString().replace(/\.\d{3}Z$/, "Z"),
    region,
    resources,
    detail,
  };
}
