import { describe, expect, it } from "vitest";
import {
  buildRequest,
  containerPath,
  encodeParamValue,
  encodeParams,
  listParamsToWire,
  maxQueryLength,
} from "../../lib/arvados/wire.js";

function uuid(i: number): string {
  return `zzzzz-dz642-${i.toString(36).padStart(15, "0")}`;
}

describe("§1.11 parameter values are encoded as the Go client does", () => {
  it("sends strings verbatim", () => {
    expect(encodeParamValue("priority desc")).toBe("priority desc");
  });
  it("sends numbers as text", () => {
    expect(encodeParamValue(1000)).toBe("1000");
  });
  it("sends true as the text true", () => {
    expect(encodeParamValue(true)).toBe("true");
  });
  it("omits false, null and undefined", () => {
    expect(encodeParamValue(false)).toBeUndefined();
    expect(encodeParamValue(null)).toBeUndefined();
    expect(encodeParamValue(undefined)).toBeUndefined();
  });
  it("sends arrays and objects as JSON text", () => {
    expect(encodeParamValue([["priority", ">", "0"]])).toBe('[["priority",">","0"]]');
    expect(encodeParamValue({ state: "Cancelled" })).toBe('{"state":"Cancelled"}');
  });
  it("form-encodes with keys sorted and omitted values dropped", () => {
    expect(encodeParams({ select: ["uuid"], count: "none", distinct: false, limit: 5 })).toBe(
      "count=none&limit=5&select=%5B%22uuid%22%5D",
    );
  });
});

describe("§1.11 list parameters follow ResourceListParams omitempty", () => {
  it("omits offset when it is 0 and keeps it otherwise", () => {
    expect(listParamsToWire({ offset: 0, limit: 1000 })).toEqual({ limit: 1000 });
    expect(listParamsToWire({ offset: 1000 })).toEqual({ offset: 1000 });
  });
  it("omits empty filters and select", () => {
    expect(listParamsToWire({ filters: [], select: [], order: "uuid" })).toEqual({ order: "uuid" });
  });
  it("keeps the dispatcher's avail query as given", () => {
    const wire = listParamsToWire({
      filters: [
        ["state", "=", "Queued"],
        ["priority", ">", "0"],
      ],
      order: "priority desc",
      limit: 1000,
      count: "none",
      select: ["uuid", "state"],
    });
    expect(encodeParams(wire)).toBe(
      `count=none&filters=${encodeURIComponent('[["state","=","Queued"],["priority",">","0"]]')}&limit=1000&order=priority+desc&select=${encodeURIComponent('["uuid","state"]')}`,
    );
  });
});

describe("§1.11 a GET goes in the query string unless its parameters are 1000 bytes or more", () => {
  it("puts short GET parameters in the query string with no body", () => {
    const request = buildRequest("GET", "/arvados/v1/containers", { limit: 1 });
    expect(request).toMatchObject({ method: "GET", logicalMethod: "GET", query: "limit=1", body: undefined });
    expect(request.headers["X-Http-Method-Override"]).toBeUndefined();
  });
  it("turns a long GET into a POST with X-Http-Method-Override: GET and a form body", () => {
    const filters = [["uuid", "in", Array.from({ length: 40 }, (_, i) => uuid(i))]];
    const request = buildRequest("GET", "/arvados/v1/containers", { filters });
    expect(encodeParams({ filters }).length).toBeGreaterThanOrEqual(maxQueryLength);
    expect(request).toMatchObject({ method: "POST", logicalMethod: "GET", query: "" });
    expect(request.headers["X-Http-Method-Override"]).toBe("GET");
    expect(new URLSearchParams(request.body).get("filters")).toBe(JSON.stringify(filters));
  });
  it("switches at exactly 1000 encoded bytes", () => {
    const under = buildRequest("GET", "/p", { a: "x".repeat(maxQueryLength - 3) });
    const at = buildRequest("GET", "/p", { a: "x".repeat(maxQueryLength - 2) });
    expect(under.query.length).toBe(maxQueryLength - 1);
    expect(under.method).toBe("GET");
    expect(at.method).toBe("POST");
  });
  it("always sends Content-Type application/x-www-form-urlencoded", () => {
    expect(buildRequest("GET", "/p").headers["Content-Type"]).toBe("application/x-www-form-urlencoded");
    expect(buildRequest("PUT", "/p", { container: {} }).headers["Content-Type"]).toBe(
      "application/x-www-form-urlencoded",
    );
  });
});

describe("§1.9 other methods send a form body", () => {
  it("sends a PUT's container attributes as container=<json> in the body", () => {
    const request = buildRequest("PUT", containerPath(uuid(1)), { container: { state: "Cancelled" } });
    expect(request).toMatchObject({ method: "PUT", query: "", path: `/arvados/v1/containers/${uuid(1)}` });
    expect(request.body).toBe(`container=${encodeURIComponent('{"state":"Cancelled"}')}`);
  });
  it("sends a lock as a POST with an empty body", () => {
    const request = buildRequest("POST", containerPath(uuid(1), "lock"));
    expect(request).toMatchObject({ method: "POST", path: `/arvados/v1/containers/${uuid(1)}/lock`, body: "" });
  });
  it("escapes a uuid as one path segment", () => {
    expect(containerPath("a/b")).toBe("/arvados/v1/containers/a%2Fb");
  });
});
