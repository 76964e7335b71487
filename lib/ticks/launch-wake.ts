import type { TickSender, WakeReason, WakeSchedule } from "../model/ticks.js";

/**
 * Asks for a launch pass at `wake.atMs` (§4.1: the end of the window that stopped this pass, or
 * at once for a backlog): a delayed message on launch's wake queue, unless a wake-up at or
 * before that time is already pending. Returns whether a message was sent.
 */
export async function requestLaunchWake(
  deps: { wakes: WakeSchedule; sender: TickSender; now?: () => number },
  wake: { atMs: number; reason: WakeReason },
): Promise<boolean> {
  const now = (deps.now ?? Date.now)();
  if (!(await deps.wakes.schedule(wake.atMs, now))) return false;
  await deps.sender.send({ kind: "launch-wake", reason: wake.reason }, wake.atMs - now);
  return true;
}
