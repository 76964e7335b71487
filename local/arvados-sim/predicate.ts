/**
 * SQL-like comparison predicates shared by the filter compilers: comparisons with NULL are
 * never true, as in PostgreSQL.
 */

import type { SimContainer } from "./record.js";

/** A test applied to each record. */
export type Predicate = (record: SimContainer) => boolean;

/** Whether a value is an integer that compares exactly as a bigint. */
function isExactInteger(v: unknown): v is bigint | number {
  return typeof v === "bigint" || (typeof v === "number" && Number.isSafeInteger(v));
}

/**
 * Orders two non-null values: numbers and booleans by value (int64 bigints exactly, also
 * against numbers), anything else as text (C collation).
 */
export function compare(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "bigint" || typeof b === "bigint") {
    if (isExactInteger(a) && isExactInteger(b)) {
      const x = BigInt(a);
      const y = BigInt(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    if ((typeof a === "bigint" || typeof a === "number") && (typeof b === "bigint" || typeof b === "number"))
      return Number(a) - Number(b);
  }
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  const sa = String(a);
  const sb = String(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/** SQL comparison: any comparison with NULL is not true. */
export function comparison(operator: string, get: (r: SimContainer) => unknown, operand: unknown): Predicate {
  const test: (c: number) => boolean =
    operator === "="
      ? (c) => c === 0
      : operator === "<"
        ? (c) => c < 0
        : operator === "<="
          ? (c) => c <= 0
          : operator === ">"
            ? (c) => c > 0
            : operator === ">="
              ? (c) => c >= 0
              : (c) => c !== 0;
  return (r) => {
    const value = get(r);
    return value !== null && value !== undefined && test(compare(value, operand));
  };
}
