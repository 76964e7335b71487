/**
 * JSON as the Arvados API writes it. A container's `priority` is an int64 (request priority ×
 * 2^50 − created_at ms, §5.6: about 5.6e17 for the CWL runner's default of 500), far past the
 * 2^53 a JavaScript number holds exactly, so it is read from its source text into a bigint and
 * written back as bare digits. Other integers stay numbers: sizes past 2^53 bytes (8 PiB) lose
 * precision but are never refused, and no instance type fits them anyway.
 */

/** The JSON keys whose integer values are carried exactly, as bigint. */
const exactIntegerKeys: ReadonlySet<string> = new Set(["priority"]);

const integerText = /^-?\d+$/;

/** Node 22's reviver context (`context.source` is the value's JSON text); absent on Node 20. */
interface ReviverContext {
  source?: string;
}

/** Thrown when the runtime cannot give a reviver the source text (Node < 22). */
export class ExactJsonUnsupportedError extends Error {
  override readonly name = "ExactJsonUnsupportedError";
  constructor() {
    super("exact int64 JSON parsing needs Node.js 22 or newer (JSON.parse reviver source text)");
  }
}

function revive(key: string, value: unknown, context?: ReviverContext): unknown {
  if (typeof value !== "number" || !exactIntegerKeys.has(key)) return value;
  const source = context?.source;
  if (source === undefined) throw new ExactJsonUnsupportedError();
  // A fraction or exponent is not an int64: leave the number for the schema to refuse.
  return integerText.test(source) ? BigInt(source) : value;
}

/** Parses Arvados JSON; `priority` values become bigint, exactly. Throws SyntaxError on bad JSON. */
export function parseArvadosJson(text: string): unknown {
  return JSON.parse(text, revive as (this: unknown, key: string, value: unknown) => unknown);
}

/** `JSON.rawJSON` (Node 22): a value JSON.stringify writes verbatim. Not yet in TypeScript's lib. */
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

function replaceBigint(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? rawJSON(value.toString()) : value;
}

/** Writes JSON with every bigint as bare digits, as the API server writes int64 columns. */
export function stringifyArvadosJson(value: unknown, space?: number): string {
  return JSON.stringify(value, replaceBigint, space);
}
