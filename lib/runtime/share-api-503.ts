import type { MiddlewareObj } from "@middy/core";
import { recordApi503 } from "../store/dispatch-state.js";
import type { DispatchRuntime } from "./environment.js";

/**
 * A middy middleware that, after each invocation (successful or not), shares the latest 503 the
 * function's Arvados client saw, so launch's dynamic concurrency limit reacts to it (§3.3).
 * Sharing is best effort: a failure to record never fails the invocation.
 */
export function shareApi503(runtime: Pick<DispatchRuntime, "api" | "state">): MiddlewareObj {
  // The client keeps its last 503: share each one once, not on every later invocation.
  let shared: Date | undefined;
  const share = async () => {
    const at = runtime.api.last503();
    if (at === undefined || at === shared) return;
    await recordApi503(runtime.state, at).then(
      () => {
        shared = at;
      },
      () => undefined,
    );
  };
  return { after: share, onError: share };
}
