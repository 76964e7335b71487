/**
 * Arvados config units (§6): byte sizes (`sdk/go/arvados/byte_size.go`) and durations
 * (`duration.go`, i.e. Go's `time.ParseDuration`). Results are plain numbers: bytes, and
 * milliseconds, so no caller parses a unit again.
 */
import { ConfigError, showValue } from "./errors.js";

/** The outcome of parsing one value: the number, or why it is invalid (without the key path). */
export type UnitResult = { ok: true; value: number } | { ok: false; message: string };

// §6.3: K/M/G/T/P/E are powers of 1000, Ki/Mi/... powers of 1024 (byte_size.go prefixValue).
const prefixValue: Readonly<Record<string, bigint>> = {
  "": 1n,
  K: 1000n,
  Ki: 1n << 10n,
  M: 1000n ** 2n,
  Mi: 1n << 20n,
  G: 1000n ** 3n,
  Gi: 1n << 30n,
  T: 1000n ** 4n,
  Ti: 1n << 40n,
  P: 1000n ** 5n,
  Pi: 1n << 50n,
  E: 1000n ** 6n,
  Ei: 1n << 60n,
};

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** A JSON number literal, which is what byte_size.go hands to its json.Decoder. */
const JSON_NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;
const JSON_INTEGER = /^-?(0|[1-9][0-9]*)$/;

function tooLarge(shown: string): UnitResult {
  return { ok: false, message: `byte size ${shown} is too large (over ${Number.MAX_SAFE_INTEGER} bytes)` };
}

/**
 * Byte size rules as byte_size.go applies them, returning bytes. Numbers must be whole; strings
 * are a JSON number, optional spaces, then an optional unit with optional trailing "B"
 * ("16GiB", "1.5 GB", "100"). Fractions are truncated like Go's int64(float). Unlike
 * upstream, negative sizes are rejected, and so are sizes past Number.MAX_SAFE_INTEGER.
 */
export function byteSizeResult(value: unknown, path = ""): UnitResult {
  if (typeof value === "number") {
    if (!Number.isInteger(value))
      return { ok: false, message: `invalid byte size ${value}: a number of bytes must be whole` };
    if (value < 0) return { ok: false, message: "byte size must not be negative" };
    if (!Number.isSafeInteger(value)) return tooLarge(String(value));
    return { ok: true, value };
  }
  if (typeof value !== "string")
    return { ok: false, message: 'expected a byte size (a number of bytes or a string like "16GiB")' };
  const shown = showValue(path, value);
  // byte_size.go: the number ends after the last character that can belong to one ...
  let split = Math.max(...[..."0123456789.+-eE"].map((c) => value.lastIndexOf(c))) + 1;
  if (split === 0) return { ok: false, message: `invalid byte size ${shown}` };
  // ... except that a final "E" is the Exa prefix, not an exponent ("4.5EiB").
  if (value[split - 1] === "E") split--;
  const numeral = value.slice(0, split).trimStart();
  if (!JSON_NUMBER.test(numeral)) return { ok: false, message: `invalid byte size ${shown}` };
  let unit = value.slice(split).replace(/^ +| +$/g, "");
  const unitShown = unit;
  if (unit.endsWith("B")) unit = unit.slice(0, -1);
  const multiplier = prefixValue[unit];
  if (multiplier === undefined)
    return { ok: false, message: `invalid unit ${showValue(path, unitShown)} in byte size ${shown}` };
  const negative: UnitResult = { ok: false, message: `byte size ${shown} must not be negative` };
  if (JSON_INTEGER.test(numeral)) {
    const bytes = BigInt(numeral) * multiplier;
    if (bytes < 0n) return negative;
    return bytes > MAX_SAFE ? tooLarge(shown) : { ok: true, value: Number(bytes) };
  }
  const bytes = Math.trunc(Number(numeral) * Number(multiplier));
  if (bytes < 0) return negative;
  // "+ 0" turns a truncated -0.1 into 0 rather than -0.
  return Number.isSafeInteger(bytes) ? { ok: true, value: bytes + 0 } : tooLarge(shown);
}

/**
 * Parses an Arvados byte size (a number of bytes, or a string like "16GiB", "1.5 GB", "64MiB")
 * into bytes. Throws a ConfigError naming `path` when the value is invalid.
 */
export function parseByteSize(value: unknown, path: string): number {
  const r = byteSizeResult(value, path);
  if (!r.ok) throw new ConfigError([{ path, message: r.message }]);
  return r.value;
}

// Go's time.ParseDuration units, in nanoseconds.
const durationUnits: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1000n,
  "\u00b5s": 1000n, // U+00B5 micro sign
  "\u03bcs": 1000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const MAX_INT64 = (1n << 63n) - 1n;

/** Go's time.ParseDuration, returning nanoseconds or the reason it fails. */
function goParseDuration(orig: string): bigint | string {
  const invalid = `invalid duration ${JSON.stringify(orig)}`;
  let s = orig;
  let neg = false;
  if (s[0] === "-" || s[0] === "+") {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0n;
  if (s === "") return invalid;
  let total = 0n;
  while (s !== "") {
    const m = /^([0-9]*)(?:\.([0-9]*))?/.exec(s);
    const intDigits = m?.[1] ?? "";
    const fracDigits = m?.[2];
    if (intDigits === "" && (fracDigits === undefined || fracDigits === "")) return invalid;
    s = s.slice(m?.[0].length ?? 0);
    const unitMatch = /^[^0-9.]*/.exec(s)?.[0] ?? "";
    if (unitMatch === "") return `missing unit in duration ${JSON.stringify(orig)}`;
    const unit = durationUnits[unitMatch];
    if (unit === undefined) return `${invalid}: unknown unit ${JSON.stringify(unitMatch)}`;
    s = s.slice(unitMatch.length);
    let v = BigInt(intDigits === "" ? "0" : intDigits) * unit;
    if (fracDigits) {
      // Go adds float64(fraction) * (float64(unit) / scale), truncated.
      const fraction = Number(fracDigits.slice(0, 18));
      const scale = 10 ** Math.min(fracDigits.length, 18);
      v += BigInt(Math.trunc(fraction * (Number(unit) / scale)));
    }
    total += v;
    if (total > MAX_INT64) return invalid;
  }
  return neg ? -total : total;
}

/**
 * Duration rules as duration.go applies them, returning milliseconds: a Go duration string
 * ("10s", "1m30s", "500ms", "1.5h"), or 0 / "0". Other bare numbers have no unit and are
 * invalid, as upstream. Unlike upstream, negative durations are rejected.
 */
export function durationResult(value: unknown, path = ""): UnitResult {
  if (value === 0 || value === "0") return { ok: true, value: 0 };
  if (typeof value === "number")
    return { ok: false, message: `missing unit in duration ${value} (write e.g. "${value}s")` };
  if (typeof value !== "string") return { ok: false, message: 'expected a duration like "10s" or "1m30s"' };
  const ns = goParseDuration(value);
  if (typeof ns === "string") {
    // The parser quotes the input; hide it like any other value under a secret-looking key.
    return { ok: false, message: ns.split(JSON.stringify(value)).join(showValue(path, value)) };
  }
  if (ns < 0n) return { ok: false, message: `duration ${showValue(path, value)} must not be negative` };
  return { ok: true, value: Number(ns) / 1e6 };
}

/** Parses an Arvados duration ("10s", "1h30m", "0") into milliseconds; throws a ConfigError naming `path`. */
export function parseDuration(value: unknown, path: string): number {
  const r = durationResult(value, path);
  if (!r.ok) throw new ConfigError([{ path, message: r.message }]);
  return r.value;
}
