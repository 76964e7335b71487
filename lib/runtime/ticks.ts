import { SQSClient } from "@aws-sdk/client-sqs";
import type { LaunchWakeRelay, TickChain, TickSender, WakeSchedule } from "../model/ticks.js";
import { SqsTickSender } from "../sqs/tick-sender.js";
import { TableLaunchWakeRelay } from "../store/launch-wake-relay.js";
import { LaunchWakes } from "../store/launch-wakes.js";
import { TickStore } from "../store/tick-store.js";
import { type DispatchRuntime, requireEnv } from "./environment.js";

/**
 * update-queue's tick chain: its state on `#queue`, the sender of its next tick (TICK_QUEUE_URL),
 * and the relay of launch's wake-ups, which come on the same queue.
 */
export function updateTicksFromEnv(
  runtime: Pick<DispatchRuntime, "ddb" | "store">,
  env: NodeJS.ProcessEnv = process.env,
): { chain: TickChain; sender: TickSender; relay: LaunchWakeRelay } {
  return {
    chain: new TickStore(runtime.ddb, runtime.store.tableName),
    sender: new SqsTickSender(new SQSClient({}), requireEnv("TICK_QUEUE_URL", env)),
    relay: new TableLaunchWakeRelay(runtime.ddb, runtime.store.tableName),
  };
}

/**
 * launch's wake-ups (on the tick queue, TICK_QUEUE_URL: update-queue relays them) and what its sweep asks first: how many cached
 * containers the last update left Queued or Locked.
 */
export function launchWakesFromEnv(
  runtime: Pick<DispatchRuntime, "ddb" | "store">,
  env: NodeJS.ProcessEnv = process.env,
): { wakes: WakeSchedule; sender: TickSender; waiting: () => Promise<number | undefined> } {
  const ticks = new TickStore(runtime.ddb, runtime.store.tableName);
  return {
    wakes: new LaunchWakes(runtime.ddb, runtime.store.tableName),
    sender: new SqsTickSender(new SQSClient({}), requireEnv("TICK_QUEUE_URL", env)),
    waiting: () => ticks.waiting(),
  };
}
