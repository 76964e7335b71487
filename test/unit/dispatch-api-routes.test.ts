import { describe, expect, it } from "vitest";
import { matchRoute } from "../../lib/dispatch-api/routes.js";

const base = "/arvados/v1/dispatch";

describe("upstream's routes, each on its one method (dispatcher.go)", () => {
  it.each([
    ["GET", "/containers", "containers"],
    ["GET", "/container", "container"],
    ["POST", "/containers/kill", "containerKill"],
    ["GET", "/instances", "instances"],
    ["POST", "/instances/hold", "instanceHold"],
    ["POST", "/instances/drain", "instanceDrain"],
    ["POST", "/instances/run", "instanceRun"],
    ["POST", "/instances/kill", "instanceKill"],
  ])("%s %s", (method, path, name) => {
    expect(matchRoute(method, `${base}${path}`)).toEqual({ kind: "route", name });
  });
});

describe("the router's answers for the rest, as httprouter's defaults", () => {
  it("a known path with another method is 405 with Allow: the path's methods and OPTIONS", () => {
    expect(matchRoute("POST", `${base}/containers`)).toEqual({ kind: "methodNotAllowed", allow: "GET, OPTIONS" });
    expect(matchRoute("GET", `${base}/instances/kill`)).toEqual({ kind: "methodNotAllowed", allow: "OPTIONS, POST" });
    expect(matchRoute("HEAD", `${base}/container`)).toEqual({ kind: "methodNotAllowed", allow: "GET, OPTIONS" });
    expect(matchRoute("DELETE", `${base}/instances`)).toEqual({ kind: "methodNotAllowed", allow: "GET, OPTIONS" });
  });

  it("OPTIONS on a known path answers with Allow", () => {
    expect(matchRoute("OPTIONS", `${base}/instances/drain`)).toEqual({ kind: "options", allow: "OPTIONS, POST" });
  });

  it("a trailing slash too many or too few redirects: 301 for GET, 308 otherwise", () => {
    expect(matchRoute("GET", `${base}/containers/`)).toEqual({
      kind: "redirect",
      status: 301,
      path: `${base}/containers`,
    });
    expect(matchRoute("POST", `${base}/instances/kill/`)).toEqual({
      kind: "redirect",
      status: 308,
      path: `${base}/instances/kill`,
    });
  });

  it("anything else is 404", () => {
    for (const path of [
      "/",
      `${base}`,
      `${base}/containers/kill/now`,
      "/arvados/v1/dispatch/CONTAINERS",
      "/_health/ping",
      "/metrics",
    ]) {
      expect(matchRoute("GET", path), path).toEqual({ kind: "notFound" });
    }
    expect(matchRoute("PUT", "/nowhere")).toEqual({ kind: "notFound" });
  });
});
