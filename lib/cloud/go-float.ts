/**
 * A float64 formatted as Go's `fmt.Sprintf("%v", x)` (= `%g` with the shortest round-trip
 * digits): exponent form when the decimal exponent is < -4 or >= 6 (strconv uses precision 6 for
 * that decision when the precision is "shortest"), else plain decimal. So 0.1 → "0.1",
 * 2 → "2", 123456 → "123456", 1234567 → "1.234567e+06", 0.00001 → "1e-05".
 *
 * §4.3 sends spot MaxPrice as `fmt "%v"` of the configured Price; matching it keeps the
 * RunInstances request identical to upstream's.
 */
export function formatGoFloat(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Number.POSITIVE_INFINITY) return "+Inf";
  if (x === Number.NEGATIVE_INFINITY) return "-Inf";
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  // toExponential() without an argument gives the shortest round-trip digits, like strconv's -1.
  const [mantissa = "", expText = "0"] = x.toExponential().split("e");
  const exp = Number(expText);
  const negative = mantissa.startsWith("-");
  const digits = mantissa.replace("-", "").replace(".", "");
  const sign = negative ? "-" : "";
  if (exp < -4 || exp >= 6) {
    const frac = digits.slice(1);
    const e = Math.abs(exp).toString().padStart(2, "0");
    return `${sign}${digits[0]}${frac ? `.${frac}` : ""}e${exp < 0 ? "-" : "+"}${e}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
  const frac = digits.slice(exp + 1);
  return `${sign}${intPart}${frac ? `.${frac}` : ""}`;
}
