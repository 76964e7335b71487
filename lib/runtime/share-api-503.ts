import type { MiddlewareObj } from "@middy/core";
import { recordApi503 } from "../store/dispatch-state.js";
import type { DispatchRuntime } from "./environment.js";

/**
 * A middy middleware that, after each invocation (successful or not), shares the latest 503 the
 * function's Arvados client saw, so launch's dynamic concurrency limit reacts to it (§3.3).
 * Sharing is best effort: a failure to record never fails the invocation.
 */
export function shareApi503(runtime: Pick<DispatchRuntime, "api" | "state">): MiddlewareObj {
  const share = async () => {
    await recordApi503(runtime.state, runtime.api.last503()).catch(() => undefined);
  };
  return { after: share, onError: share };
}
