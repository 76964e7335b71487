import { describe, expect, it } from "vitest";
import { parseArvadosJson, stringifyArvadosJson } from "../../lib/model/exact-json.js";
import {
  DecodeFailure,
  decodeContainerList,
  decodeQueuedContainerList,
  decodeStateChange,
} from "../../lib/arvados/response.js";
import { maxPriority } from "../../lib/model/container.js";
import { containerUuid } from "../support/fixtures.js";

/** 500 × 2^50 − 2026-01-01T00:00:01.123Z in ms: what the CWL runner's default request priority gives. */
const realPriority = "562948186195710877";
/** Past 2^53, so as a double it equals its neighbour. */
const past2to53 = "9007199254740993";

function listBody(...priorities: string[]): string {
  const items = priorities.map(
    (p, i) =>
      `{"uuid":"${containerUuid(i)}","state":"Queued","priority":${p},"created_at":"2026-01-01T00:00:01.123456000Z"}`,
  );
  return `{"items":[${items.join(",")}]}`;
}

describe("priorities are int64 and read exactly from the reply text (§5.6)", () => {
  it("keeps every digit of a priority past 2^53", () => {
    const parsed = parseArvadosJson(`{"priority":${past2to53}}`) as { priority: bigint };
    expect(parsed.priority).toBe(9007199254740993n);
  });

  it("reads a real cluster's magnitude (request priority 500) and its neighbour apart", () => {
    const [a, b] = decodeContainerList(listBody(realPriority, "562948186195710876")).items;
    expect(a?.priority).toBe(562948186195710877n);
    expect(b?.priority).toBe(562948186195710876n);
    expect((a?.priority ?? 0n) - (b?.priority ?? 0n)).toBe(1n);
  });

  it("accepts 0 and 2^63−1, the int64 column's range", () => {
    const items = decodeContainerList(listBody("0", String(maxPriority))).items;
    expect(items.map((c) => c.priority)).toEqual([0n, 9223372036854775807n]);
  });

  it.each([
    ["a negative priority", "-1"],
    ["a priority past int64", "9223372036854775808"],
    ["a fractional priority", "1.5"],
    ["a priority in exponent form", "1e3"],
    ["a priority as a string", '"5"'],
  ])("refuses %s, naming the container and the field", (_name, text) => {
    let error: unknown;
    try {
      decodeContainerList(listBody("1", text));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DecodeFailure);
    expect((error as DecodeFailure).field).toBe("priority");
    expect((error as DecodeFailure).message).toContain(containerUuid(1));
  });

  it("reads a lock reply's priority exactly", () => {
    const reply = `{"uuid":"${containerUuid(1)}","state":"Locked","priority":${realPriority},"locked_by_uuid":"zzzzz-gj3su-000000000000000"}`;
    expect(decodeStateChange(reply).priority).toBe(562948186195710877n);
  });

  it("writes a bigint back as bare digits, as the API server writes int64 columns", () => {
    expect(stringifyArvadosJson({ priority: 9007199254740993n, ram: 1 })).toBe('{"priority":9007199254740993,"ram":1}');
  });
});

describe("int64 sizes a real server can send are never refused (§5.2)", () => {
  it("caches a container whose ram and keep_cache_disk are past 2^53", () => {
    const body = `{"items":[{"uuid":"${containerUuid(1)}","state":"Queued","priority":${realPriority},
      "runtime_constraints":{"ram":9223372036854775807,"vcpus":1,"keep_cache_ram":4611686018427387904,"keep_cache_disk":9007199254740993},
      "created_at":"2026-01-01T00:00:01.123456000Z"}]}`;
    const [container] = decodeQueuedContainerList(body).items;
    expect(container?.priority).toBe(562948186195710877n);
    expect(container?.runtime_constraints.ram).toBe(2 ** 63);
    expect(container?.runtime_constraints.keep_cache_ram).toBe(2 ** 62);
    expect(container?.created_at).toBe("2026-01-01T00:00:01.123456000Z");
  });

  it("refuses a negative size, naming the field", () => {
    const body = `{"items":[{"uuid":"${containerUuid(1)}","state":"Queued","priority":1,"runtime_constraints":{"ram":-1}}]}`;
    expect(() => decodeQueuedContainerList(body)).toThrow(DecodeFailure);
    expect(() => decodeQueuedContainerList(body)).toThrow(/runtime_constraints\.ram.*is not a non-negative int64/);
  });
});

describe("a container uuid is checked before it becomes a table key", () => {
  it.each([
    ["a uuid of another type", "zzzzz-j7d0g-000000000000001"],
    ["a uuid with a slash", "zzzzz-dz642-00000000000/../"],
    ["a uuid with upper case", "zzzzz-dz642-00000000000000A"],
  ])("refuses %s, naming the field", (_name, uuid) => {
    const body = JSON.stringify({ items: [{ uuid, state: "Queued", priority: 1 }] });
    expect(() => decodeQueuedContainerList(body)).toThrow(DecodeFailure);
    expect(() => decodeQueuedContainerList(body)).toThrow(/items\.0\.uuid .*: is not an Arvados container uuid/);
  });
});
