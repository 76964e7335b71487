import { describe, expect, it } from "vitest";
import { ConfigError } from "../../lib/config/errors.js";
import { parseGoFloat } from "../../lib/config/go-float.js";
import { parseByteSize, parseDuration } from "../../lib/config/units.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

function byteSizeError(value: unknown, path = "X.RAM"): ConfigError {
  try {
    parseByteSize(value, path);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`parseByteSize(${String(value)}) did not fail`);
}

function durationError(value: unknown, path = "X.PollInterval"): ConfigError {
  try {
    parseDuration(value, path);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`parseDuration(${String(value)}) did not fail`);
}

describe("byte sizes: plain numbers are bytes", () => {
  it.each([
    [0, 0],
    [1, 1],
    [123456789, 123456789],
    ["123456789", 123456789],
  ])("%j is %d bytes", (input, bytes) => {
    expect(parseByteSize(input, "RAM")).toBe(bytes);
  });
});

describe("byte sizes: K M G T P E are powers of 1000, Ki Mi Gi Ti Pi Ei powers of 1024", () => {
  it.each([
    ["1K", 1e3],
    ["1M", 1e6],
    ["1G", 1e9],
    ["1T", 1e12],
    ["1P", 1e15],
    ["1Ki", KiB],
    ["1Mi", MiB],
    ["1Gi", GiB],
    ["1Ti", 1024 * GiB],
    ["1Pi", 1024 * 1024 * GiB],
    ["4Pi", 4 * 1024 * 1024 * GiB],
  ])("%s = %d", (input, bytes) => {
    expect(parseByteSize(input, "RAM")).toBe(bytes);
  });

  it("E and Ei values are past Number.MAX_SAFE_INTEGER and rejected as too large", () => {
    expect(byteSizeError("1E").issues[0]?.message).toMatch(/too large/);
    expect(byteSizeError("1EiB").issues[0]?.message).toMatch(/too large/);
  });
});

describe("byte sizes: an optional trailing B and optional spaces around the unit", () => {
  it.each([
    ["16GiB", 16 * GiB],
    ["16Gi", 16 * GiB],
    ["16 GiB", 16 * GiB],
    ["16 GiB ", 16 * GiB],
    ["550MiB", 550 * MiB],
    ["16GB", 16e9],
    ["100B", 100],
    ["100 B", 100],
  ])("%j = %d", (input, bytes) => {
    expect(parseByteSize(input, "RAM")).toBe(bytes);
  });

  it("units are case-sensitive: 16gib and 16kb are invalid units", () => {
    expect(byteSizeError("16gib").issues[0]?.message).toBe('invalid unit "gib" in byte size "16gib"');
    expect(byteSizeError("16kb").issues[0]?.message).toBe('invalid unit "kb" in byte size "16kb"');
  });
});

describe("byte sizes: decimals and exponents as upstream's JSON-number reading, truncated to whole bytes", () => {
  it.each([
    ["1.5GiB", 1610612736],
    ["1.5 GB", 1.5e9],
    ["0.5KiB", 512],
    ["1e3", 1000],
    ["1e3K", 1e6],
    ["4.5Ki", 4608],
    ["1.0000001K", 1000],
  ])("%j = %d", (input, bytes) => {
    expect(parseByteSize(input, "RAM")).toBe(bytes);
  });

  it("a trailing E is the exa prefix, not an exponent, so 4.5EiB is 4.5 × 2^60 (too large here)", () => {
    expect(byteSizeError("4.5EiB").issues[0]?.message).toMatch(/too large/);
  });
});

describe("byte sizes: invalid values fail with the key path and the kind of problem", () => {
  it.each([["GiB"], [""], ["abc"], ["1.2.3GiB"], ["+5GiB"], [".5GiB"], ["1 0GiB"], ["2e"]])(
    "%j is invalid",
    (input) => {
      const err = byteSizeError(input, "InstanceTypes[m5.large].RAM");
      expect(err.issues[0]?.path).toBe("InstanceTypes[m5.large].RAM");
      expect(err.message).toContain("InstanceTypes[m5.large].RAM: invalid");
    },
  );

  it("a fractional number (not a string) is rejected: upstream reads it as an int64", () => {
    expect(byteSizeError(1.5).issues[0]?.message).toMatch(/must be whole/);
  });

  it("non-scalar values are rejected", () => {
    expect(byteSizeError(true).issues[0]?.message).toMatch(/expected a byte size/);
    expect(byteSizeError({}).issues[0]?.message).toMatch(/expected a byte size/);
  });
});

describe("byte sizes: negative sizes and sizes past Number.MAX_SAFE_INTEGER are errors", () => {
  it.each([[-1], ["-1"], ["-1GiB"], ["-0.5KiB"]])("%j is negative", (input) => {
    expect(byteSizeError(input).issues[0]?.message).toMatch(/must not be negative/);
  });

  it("-0 is zero, not negative", () => {
    expect(parseByteSize("-0", "RAM")).toBe(0);
  });

  it("the largest safe integer is accepted and the next one is not", () => {
    expect(parseByteSize(Number.MAX_SAFE_INTEGER, "RAM")).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseByteSize(String(Number.MAX_SAFE_INTEGER), "RAM")).toBe(Number.MAX_SAFE_INTEGER);
    expect(byteSizeError(String(Number.MAX_SAFE_INTEGER + 1)).issues[0]?.message).toMatch(/too large/);
    expect(byteSizeError("9000Ti").issues[0]?.message).toMatch(/too large/);
  });
});

describe("durations: Go duration strings, in milliseconds", () => {
  it.each([
    ["10s", 10_000],
    ["1m", 60_000],
    ["1h30m", 5_400_000],
    ["1m30s", 90_000],
    ["500ms", 500],
    ["1.5s", 1500],
    ["1.5h", 5_400_000],
    ["0s", 0],
    ["24h", 86_400_000],
    ["250us", 0.25],
    ["250µs", 0.25],
    ["1000000ns", 1],
    ["+5s", 5000],
    ["1.s", 1000],
    [".5s", 500],
  ])("%j = %d ms", (input, ms) => {
    expect(parseDuration(input, "PollInterval")).toBe(ms);
  });

  it('a unitless 0 (number or "0") is zero, as upstream accepts it', () => {
    expect(parseDuration(0, "PollInterval")).toBe(0);
    expect(parseDuration("0", "PollInterval")).toBe(0);
  });
});

describe("durations: invalid values fail naming the key path and the value", () => {
  it("an unknown unit", () => {
    const err = durationError("10x", "Containers.CloudVMs.PollInterval");
    expect(err.message).toContain('Containers.CloudVMs.PollInterval: invalid duration "10x"');
    expect(err.issues[0]?.message).toContain('unknown unit "x"');
  });

  it.each([[10], ["10"], ["1h30"]])("%j has a missing unit", (input) => {
    expect(durationError(input).issues[0]?.message).toMatch(/missing unit in duration/);
  });

  it.each([[""], ["s"], ["."], ["1..5s"], ["ten seconds"]])("%j is invalid", (input) => {
    expect(durationError(input).issues[0]?.message).toMatch(/invalid duration|missing unit/);
  });

  it("negative durations are rejected", () => {
    expect(durationError("-5s").issues[0]?.message).toMatch(/must not be negative/);
  });

  it("durations past Go's int64 nanoseconds overflow", () => {
    expect(durationError("3000000h").issues[0]?.message).toMatch(/invalid duration/);
  });
});

describe("parseGoFloat accepts exactly what Go's strconv.ParseFloat accepts", () => {
  it.each([
    ["11.0", 11],
    ["9", 9],
    ["8.6", 8.6],
    ["+1.5", 1.5],
    ["-2", -2],
    [".5", 0.5],
    ["5.", 5],
    ["1e3", 1000],
    ["1E-2", 0.01],
    ["1_000.5", 1000.5],
    ["0x1p-2", 0.25],
    ["0x1.8p1", 3],
    ["Inf", Number.POSITIVE_INFINITY],
    ["-infinity", Number.NEGATIVE_INFINITY],
  ])("%j = %d", (input, value) => {
    expect(parseGoFloat(input)).toEqual({ ok: true, value });
  });

  it("NaN parses (and compares false with everything)", () => {
    const r = parseGoFloat("nan");
    expect(r.ok && Number.isNaN(r.value)).toBe(true);
  });

  it.each([
    [""],
    ["12.0.12"],
    ["11.0 "],
    [" 11.0"],
    ["v11"],
    ["11a"],
    ["1_.5"],
    ["_1"],
    ["1__0"],
    ["0x10"],
    ["1e"],
    ["+nan"],
    ["."],
    ["gfx1100"],
  ])("%j is a syntax error where JS parseFloat would read a prefix", (input) => {
    expect(parseGoFloat(input)).toEqual({ ok: false, error: "invalid syntax" });
  });

  it("values past float64 are range errors", () => {
    expect(parseGoFloat("1e400")).toEqual({ ok: false, error: "value out of range" });
  });
});
