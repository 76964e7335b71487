import { isContainerUuid } from "../model/container-uuid.js";
import { errorCode } from "../observability/error-code.js";
import { InstanceIndex, isLive } from "../scheduler/instances.js";
import { IdleBehavior, type InstanceView } from "../model/instance.js";
import { authorize, requestTokens } from "./auth.js";
import { type ApiRequest, type ApiResponse, emptyResponse, errorResponse, jsonResponse, textResponse } from "./http.js";
import { instanceViews } from "./instance-view.js";
import { queueEntView, schedulingOrder } from "./queue-view.js";
import type { DispatchApiDeps } from "./ports.js";
import { matchRoute, type RouteName } from "./routes.js";

/** What one request did, for the handler's log and metrics: never the token, the query or the body. */
export interface ApiOutcome {
  route?: RouteName;
  status: number;
  /** The token check refused the request (401, 403). */
  refused: boolean;
  /** An operator's action: what it targeted, which instances it changed, the reason given (cut short). */
  action?: { target: string; instanceIds: string[]; reason: string };
  /** The code of an internal failure (a 500). */
  error?: string;
}

/** The largest request body read: these routes take two short form values. */
export const maxBodyBytes = 64 * 1024;

/** An EC2 instance id (`i-` and 8 or 17 hex digits): anything else cannot be one of ours. */
const instanceIdPattern = /^i-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;

/** How much of an operator's `reason` reaches the log. */
const maxReasonLength = 200;

const idleBehaviorOf: Partial<Record<RouteName, IdleBehavior>> = {
  instanceHold: IdleBehavior.hold,
  instanceDrain: IdleBehavior.drain,
  instanceRun: IdleBehavior.run,
};

/** Request parameters, as Go's Request.FormValue reads them: a form body first, then the query. */
class Form {
  constructor(private readonly sources: URLSearchParams[]) {}

  value(name: string): string {
    for (const source of this.sources) {
      const value = source.get(name);
      if (value !== null) return value;
    }
    return "";
  }
}

function isFormBody(request: ApiRequest): boolean {
  const type = (request.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  return ["POST", "PUT", "PATCH"].includes(request.method) && type === "application/x-www-form-urlencoded";
}

/** The dispatch API; `handle` answers one request. Stateless: one per cold start serves every request. */
export class DispatchApi {
  private readonly now: () => number;

  constructor(private readonly deps: DispatchApiDeps) {
    this.now = deps.now ?? Date.now;
  }

  async handle(request: ApiRequest): Promise<{ response: ApiResponse; outcome: ApiOutcome }> {
    const done = (
      response: ApiResponse,
      more: Omit<ApiOutcome, "status" | "refused"> & { refused?: boolean } = {},
    ) => ({
      response,
      outcome: { refused: false, ...more, status: response.status },
    });
    let token: string | undefined;
    try {
      token = await this.deps.managementToken();
    } catch (err) {
      return done(errorResponse("cannot read the management token", 500), { error: errorCode(err) });
    }
    if (token === undefined || token === "") {
      return done(textResponse("Management API authentication is not configured", 403), { refused: true });
    }
    const auth = authorize(requestTokens(request), token);
    if (auth === "missing") return done(textResponse("Unauthorized", 401), { refused: true });
    if (auth === "refused") return done(textResponse("Forbidden", 403), { refused: true });

    let path: string;
    try {
      path = decodeURIComponent(request.rawPath);
    } catch {
      return done(textResponse("Bad Request", 400));
    }
    const match = matchRoute(request.method, path);
    switch (match.kind) {
      case "notFound":
        return done(textResponse("404 page not found", 404));
      case "methodNotAllowed":
        return done(textResponse("Method Not Allowed", 405, { allow: match.allow }));
      case "options":
        return done(emptyResponse({ allow: match.allow }));
      case "redirect": {
        const location = `${match.path}${request.rawQuery === "" ? "" : `?${request.rawQuery}`}`;
        return done({ status: match.status, headers: { location }, body: "" });
      }
      case "route":
        break;
    }

    const sources = [new URLSearchParams(request.rawQuery)];
    if (isFormBody(request)) {
      if (request.body.length > maxBodyBytes)
        return done(errorResponse("request body too large", 413), { route: match.name });
      sources.unshift(new URLSearchParams(request.body.toString("utf8")));
    }
    const form = new Form(sources);
    try {
      const { response, action } = await this.route(match.name, form);
      return done(response, { route: match.name, ...(action === undefined ? {} : { action }) });
    } catch (err) {
      const code = errorCode(err);
      return done(errorResponse(`${match.name}: ${code}`, 500), { route: match.name, error: code });
    }
  }

  private async route(name: RouteName, form: Form): Promise<{ response: ApiResponse; action?: ApiOutcome["action"] }> {
    switch (name) {
      case "containers":
        return { response: await this.containers() };
      case "container":
        return { response: await this.container(form.value("container_uuid")) };
      case "instances":
        return { response: await this.instances() };
      case "containerKill":
        return this.killContainer(form.value("container_uuid"), form.value("reason"));
      case "instanceKill":
        return this.killInstance(form.value("instance_id"), form.value("reason"));
      case "instanceHold":
      case "instanceDrain":
      case "instanceRun":
        return this.setIdleBehavior(form.value("instance_id"), idleBehaviorOf[name] ?? IdleBehavior.run);
    }
  }

  /** Every queue entry, in scheduling order. */
  private async containers(): Promise<ApiResponse> {
    const entries = [...(await this.deps.queue.entries()).values()].sort(schedulingOrder);
    return jsonResponse({ items: entries.map((entry) => queueEntView(entry, this.deps.config.InstanceTypes)) });
  }

  /** One entry; 404 when this dispatcher does not know the container (the controller tries the next URL). */
  private async container(uuid: string): Promise<ApiResponse> {
    // Anything but a container uuid is unknown here, and never becomes a table key.
    const entry = isContainerUuid(uuid) ? await this.deps.queue.entry(uuid) : undefined;
    return entry === undefined
      ? errorResponse("container not found", 404)
      : jsonResponse(queueEntView(entry, this.deps.config.InstanceTypes));
  }

  private async instances(): Promise<ApiResponse> {
    const [instances, entries] = await Promise.all([this.deps.instances.list(), this.deps.queue.entries()]);
    return jsonResponse({
      items: instanceViews(instances, entries, this.deps.config, new Date(this.now()).toISOString()),
    });
  }

  /** One of our listed instances by id, or undefined. */
  private async listed(instanceId: string): Promise<InstanceView | undefined> {
    if (!instanceIdPattern.test(instanceId)) return undefined;
    return (await this.deps.instances.list()).find((i) => i.instanceId === instanceId);
  }

  private async setIdleBehavior(instanceId: string, behavior: IdleBehavior) {
    if (instanceId === "") return { response: errorResponse("instance_id parameter not provided", 400) };
    const notFound = { response: errorResponse("requested instance does not exist", 404) };
    if ((await this.listed(instanceId)) === undefined) return notFound;
    try {
      await this.deps.instances.setIdleBehavior(instanceId, behavior);
    } catch (err) {
      // Gone since it was listed.
      if (errorCode(err) === "InvalidInstanceID.NotFound") return notFound;
      throw err;
    }
    return { response: emptyResponse(), action: { target: instanceId, instanceIds: [instanceId], reason: behavior } };
  }

  private async killInstance(instanceId: string, reason: string) {
    if (instanceId === "") return { response: errorResponse("instance_id parameter not provided", 400) };
    if ((await this.listed(instanceId)) === undefined) return { response: errorResponse("instance not found", 404) };
    await this.deps.instances.terminate([instanceId]);
    return {
      response: emptyResponse(),
      action: { target: instanceId, instanceIds: [instanceId], reason: reasonText(reason) },
    };
  }

  /**
   * Upstream sends SIGTERM to the container's crunch-run; here the container is its instance's
   * only work, so its instance is terminated, as cleanup does for a priority-0 container; cleanup
   * then cancels a Running container ("not running on any instance") or requeues a Locked one.
   * 404 unless some live instance of ours runs (or is starting) it.
   */
  private async killContainer(uuid: string, reason: string) {
    if (uuid === "") return { response: errorResponse("container_uuid parameter not provided", 400) };
    const notFound = { response: errorResponse("container not found", 404) };
    if (!isContainerUuid(uuid)) return notFound;
    const [instances, entry] = await Promise.all([this.deps.instances.list(), this.deps.queue.entry(uuid)]);
    const index = new InstanceIndex(instances);
    const live = entry === undefined ? (index.byContainer.get(uuid) ?? []).filter(isLive) : index.liveFor(entry);
    if (live.length === 0) return notFound;
    const instanceIds = live.map((i) => i.instanceId);
    await this.deps.instances.terminate(instanceIds);
    return { response: emptyResponse(), action: { target: uuid, instanceIds, reason: reasonText(reason) } };
  }
}

/** Upstream logs "via management API: <reason>". */
function reasonText(reason: string): string {
  const cut = reason.length > maxReasonLength ? `${reason.slice(0, maxReasonLength)}…` : reason;
  return `via management API: ${cut}`;
}
