/**
 * Go's `strconv.ParseFloat(s, 64)`, strictly. Upstream compares GPU driver versions and CUDA
 * hardware targets with it (§2.5 `versionLess`) and checks GPU.DriverVersion at config load,
 * so a value Go refuses ("", "12.0.12", "11.0 ") must be refused here too; JS `parseFloat`
 * would quietly read a prefix instead.
 */

/** The parsed value, or why Go's ParseFloat would fail ("invalid syntax" or "value out of range"). */
export type GoFloatResult = { ok: true; value: number } | { ok: false; error: "invalid syntax" | "value out of range" };

const SYNTAX = { ok: false, error: "invalid syntax" } as const;
const RANGE = { ok: false, error: "value out of range" } as const;

// Go's readFloat grammar: sign, digits/underscores with at most one dot, optional exponent.
const DECIMAL = /^[+-]?([0-9_]*)(?:\.([0-9_]*))?(?:[eE][+-]?[0-9][0-9_]*)?$/;
// Hex mantissa (after "0x") requires a "p" exponent.
const HEX = /^([+-]?)0[xX]([0-9a-fA-F_]*)(?:\.([0-9a-fA-F_]*))?[pP]([+-]?[0-9][0-9_]*)$/;
// special(): "inf"/"infinity" with an optional sign, "nan" without one; any case.
const SPECIAL = /^(?:([+-]?)(inf|infinity)|nan)$/i;

/** Go's strconv.underscoreOK: underscores only between digits, or after a base prefix. */
function underscoreOK(input: string): boolean {
  let s = input;
  let saw = "^";
  let i = 0;
  if (s[0] === "+" || s[0] === "-") s = s.slice(1);
  let hex = false;
  if (s.length >= 2 && s[0] === "0" && "bBoOxX".includes(s[1] ?? "")) {
    i = 2;
    saw = "0";
    hex = s[1] === "x" || s[1] === "X";
  }
  for (; i < s.length; i++) {
    const c = s[i] ?? "";
    if ((c >= "0" && c <= "9") || (hex && /[a-fA-F]/.test(c))) {
      saw = "0";
    } else if (c === "_") {
      if (saw !== "0") return false;
      saw = "_";
    } else {
      if (saw === "_") return false;
      saw = "!";
    }
  }
  return saw !== "_";
}

/** Parses `s` exactly as Go's `strconv.ParseFloat(s, 64)` accepts it. */
export function parseGoFloat(s: string): GoFloatResult {
  const special = SPECIAL.exec(s);
  if (special) {
    if (special[2] === undefined) return { ok: true, value: Number.NaN };
    return { ok: true, value: special[1] === "-" ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY };
  }
  if (s.includes("_") && !underscoreOK(s)) return SYNTAX;
  const plain = s.replaceAll("_", "");
  let value: number;
  const hex = HEX.exec(s);
  if (hex) {
    const intDigits = (hex[2] ?? "").replaceAll("_", "");
    const fracDigits = (hex[3] ?? "").replaceAll("_", "");
    if (intDigits === "" && fracDigits === "") return SYNTAX;
    const mantissa = Number.parseInt(`${intDigits}${fracDigits}` || "0", 16);
    const exponent = Number((hex[4] ?? "0").replaceAll("_", "")) - 4 * fracDigits.length;
    value = (hex[1] === "-" ? -1 : 1) * mantissa * 2 ** exponent;
  } else {
    const dec = DECIMAL.exec(s);
    if (!dec || `${dec[1] ?? ""}${dec[2] ?? ""}`.replaceAll("_", "") === "") return SYNTAX;
    value = Number(plain);
  }
  if (Number.isNaN(value)) return SYNTAX;
  return Number.isFinite(value) ? { ok: true, value } : RANGE;
}
