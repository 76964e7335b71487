import { DispatchApi } from "../../lib/dispatch-api/dispatch-api.js";
import { tableQueueReader } from "../../lib/runtime/dispatch-api.js";
import type { DispatchApiDeps } from "../../lib/dispatch-api/ports.js";
import { functionUrlResult, requestFromFunctionUrlEvent } from "../../lib/dispatch-api/function-url.js";
import { FunctionUrlServer } from "../../local/runner/function-url-server.js";
import type { DispatchHarness } from "./dispatch.js";

/** The ManagementToken the test API accepts: shaped like a real one. */
export const managementToken = "v2/zzzzz-gj3su-0dispatchmgmt01/3kx7q9mgmttokensecretvalue0000000000000000000";

/**
 * The dispatch API over real HTTP, as a Lambda Function URL serves it (local/'s front, the
 * function's event translation), wired to a dispatch harness's table and EC2 simulator.
 */
export interface DispatchApiServer {
  url: string;
  api: DispatchApi;
  /** The controller's request (localdb/container_request.go): GET <InternalURL>/arvados/v1/dispatch/container?container_uuid=<uuid>, Bearer ManagementToken. */
  controllerGet(uuid: string): Promise<Response>;
  /** Any request; `token` undefined sends no Authorization header. */
  call(
    method: string,
    pathAndQuery: string,
    options?: {
      token?: string;
      body?: string | Buffer;
      headers?: Record<string, string>;
      redirect?: "follow" | "manual" | "error";
    },
  ): Promise<Response>;
  stop(): Promise<void>;
}

export async function dispatchApiServer(
  h: DispatchHarness,
  deps: Partial<DispatchApiDeps> = {},
): Promise<DispatchApiServer> {
  const api = new DispatchApi({
    queue: tableQueueReader(h.store),
    instances: h.cloud,
    managementToken: async () => managementToken,
    config: h.config,
    ...deps,
  });
  const server = new FunctionUrlServer(async (event) =>
    functionUrlResult((await api.handle(requestFromFunctionUrlEvent(event))).response),
  );
  const url = await server.start(0);
  const call: DispatchApiServer["call"] = (method, pathAndQuery, options = {}) =>
    fetch(new URL(pathAndQuery, url), {
      method,
      headers: {
        ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
        ...options.headers,
      },
      ...(options.body === undefined ? {} : { body: options.body }),
      ...(options.redirect === undefined ? {} : { redirect: options.redirect }),
    });
  return {
    url,
    api,
    // The controller resolves the path against each InternalURL with url.URL.Parse (an absolute path).
    controllerGet: (uuid) =>
      fetch(new URL(`/arvados/v1/dispatch/container?container_uuid=${uuid}`, url), {
        headers: { Authorization: `Bearer ${managementToken}` },
      }),
    call,
    stop: () => server.stop(),
  };
}
