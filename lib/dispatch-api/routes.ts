/**
 * The dispatch API's routes, as upstream's dispatcher registers them on its httprouter
 * (`lib/dispatchcloud/dispatcher.go`), and the router's answers for everything else: a path
 * known for other methods → 405 with `Allow` (OPTIONS → 200 with `Allow`), a path that differs
 * from a route by its trailing slash → a redirect (301 for GET, 308 otherwise), anything else
 * → 404 (httprouter v1.3 defaults).
 */

/** Each route: method, path, and the name the API dispatches on. */
export const routes = [
  { method: "GET", path: "/arvados/v1/dispatch/containers", name: "containers" },
  { method: "GET", path: "/arvados/v1/dispatch/container", name: "container" },
  { method: "POST", path: "/arvados/v1/dispatch/containers/kill", name: "containerKill" },
  { method: "GET", path: "/arvados/v1/dispatch/instances", name: "instances" },
  { method: "POST", path: "/arvados/v1/dispatch/instances/hold", name: "instanceHold" },
  { method: "POST", path: "/arvados/v1/dispatch/instances/drain", name: "instanceDrain" },
  { method: "POST", path: "/arvados/v1/dispatch/instances/run", name: "instanceRun" },
  { method: "POST", path: "/arvados/v1/dispatch/instances/kill", name: "instanceKill" },
] as const;

export type RouteName = (typeof routes)[number]["name"];

/** What the router does with a request. */
export type RouteMatch =
  | { kind: "route"; name: RouteName }
  | { kind: "options"; allow: string }
  | { kind: "methodNotAllowed"; allow: string }
  | { kind: "redirect"; status: 301 | 308; path: string }
  | { kind: "notFound" };

/** httprouter's Allow value: the path's other methods and OPTIONS, sorted, comma-separated. */
function allowed(path: string, except: string): string {
  const methods = routes.filter((r) => r.path === path && r.method !== except).map((r) => r.method as string);
  if (methods.length === 0) return "";
  return [...new Set([...methods, "OPTIONS"])].sort().join(", ");
}

/** Matches a request's method and decoded path against the routes, as httprouter would. */
export function matchRoute(method: string, path: string): RouteMatch {
  const route = routes.find((r) => r.method === method && r.path === path);
  if (route !== undefined) return { kind: "route", name: route.name };
  if (method !== "CONNECT" && path !== "/" && routes.some((r) => r.method === method)) {
    const other = path.endsWith("/") ? path.slice(0, -1) : `${path}/`;
    if (routes.some((r) => r.method === method && r.path === other)) {
      return { kind: "redirect", status: method === "GET" ? 301 : 308, path: other };
    }
  }
  if (method === "OPTIONS") {
    const allow = allowed(path, "OPTIONS");
    if (allow !== "") return { kind: "options", allow };
  }
  const allow = allowed(path, method);
  return allow === "" ? { kind: "notFound" } : { kind: "methodNotAllowed", allow };
}
