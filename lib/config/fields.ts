/**
 * zod schemas for single config values, each with its upstream default spelled the way
 * config.default.yml spells it (`duration("10s")`, `byteSize("550MiB")`). Inputs come from
 * readYamlTree: strings, null, lists, maps and YamlScalar leaves. Messages never include a
 * value except through showValue (units), and ConfigError scrubs those under secret keys.
 */
import { z } from "zod";
import { byteSizeResult, durationResult, parseByteSize, parseDuration } from "./units.js";
import { type ConfigNode, isConfigMap, YamlScalar } from "./yaml-tree.js";

type Ctx = z.core.$RefinementCtx;

function fail(ctx: Ctx, message: string): never {
  ctx.addIssue({ code: "custom", message });
  return z.NEVER;
}

/** The number or boolean inside a YamlScalar, or the value itself. */
function scalar(v: unknown): unknown {
  return v instanceof YamlScalar ? v.value : v;
}

function asString(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  // go-yaml + ghodss/yaml turn an unquoted 22 into "22" for a string setting; keep the written text.
  if (v instanceof YamlScalar) return v.source;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return undefined;
}

const readString = (v: unknown, ctx: Ctx): string => asString(v) ?? fail(ctx, "expected a string");

/** A string setting. */
export function str(def: string) {
  return z.unknown().transform(readString).default(def);
}

/** A string setting that must not be empty (TagKeyPrefix: every instance tag key starts with it). */
export function nonEmptyStr(def: string) {
  return z
    .unknown()
    .transform((v, ctx) => {
      const s = readString(v, ctx);
      return s === "" ? fail(ctx, "must not be empty") : s;
    })
    .default(def);
}

/** A true/false setting (YAML 1.1: yes/no/on/off too). */
export function bool(def: boolean) {
  return z
    .unknown()
    .transform((v, ctx) => {
      const b = scalar(v);
      return typeof b === "boolean" ? b : fail(ctx, "expected true or false");
    })
    .default(def);
}

/** A whole number ≥ 0 (counts, VCPUs, limits). */
export function count(def: number) {
  return z
    .unknown()
    .transform((v, ctx) => {
      const n = scalar(v);
      if (typeof n !== "number" || !Number.isSafeInteger(n)) return fail(ctx, "expected a whole number");
      return n < 0 ? fail(ctx, "must not be negative") : n;
    })
    .default(def);
}

/** A number ≥ 0 (prices, price factors), optionally capped. */
export function nonNegative(def: number, max = Number.POSITIVE_INFINITY) {
  return z
    .unknown()
    .transform((v, ctx) => {
      const n = scalar(v);
      if (typeof n !== "number" || !Number.isFinite(n)) return fail(ctx, "expected a number");
      if (n < 0) return fail(ctx, "must not be negative");
      return n > max ? fail(ctx, `must be at most ${max}`) : n;
    })
    .default(def);
}

/** A byte size (§6.3 units), in bytes. */
export function byteSize(def: string | number) {
  return z
    .unknown()
    .transform((v, ctx) => {
      const r = byteSizeResult(scalar(v));
      return r.ok ? r.value : fail(ctx, r.message);
    })
    .default(parseByteSize(def, "default"));
}

/** A Go duration, in milliseconds. */
export function duration(def: string) {
  return z
    .unknown()
    .transform((v, ctx) => {
      const r = durationResult(scalar(v));
      return r.ok ? r.value : fail(ctx, r.message);
    })
    .default(parseDuration(def, "default"));
}

/** A list of strings. */
export function stringList(def: readonly string[]) {
  return z
    .unknown()
    .transform((v, ctx) => {
      if (!Array.isArray(v)) return fail(ctx, "expected a list of strings");
      return v.map((item) => readString(item, ctx));
    })
    .default([...def]);
}

/** Drops null-valued keys, as upstream's removeNullKeys does before merging over the defaults. */
export function withoutNulls(v: unknown): unknown {
  // A number or boolean where a map belongs must fail as what it is, not as an empty object.
  if (v instanceof YamlScalar) return v.value;
  if (!isConfigMap(v as ConfigNode)) return v;
  return Object.fromEntries(Object.entries(v as Record<string, ConfigNode>).filter(([, x]) => x !== null));
}

/**
 * A map of strings merged over upstream's default entries (mergo.Merge with override, as
 * upstream's loader merges a site config over config.default.yml): a site adds or overrides
 * entries but cannot remove a default one.
 */
export function stringMap(defaults: Readonly<Record<string, string>> = {}) {
  return z
    .unknown()
    .transform((v, ctx) => {
      const m = withoutNulls(v);
      if (!isConfigMap(m as ConfigNode)) return fail(ctx, "expected a map of strings");
      const out: Record<string, string> = { ...defaults };
      for (const [k, x] of Object.entries(m as Record<string, ConfigNode>)) {
        const s = asString(x);
        if (s === undefined) ctx.addIssue({ code: "custom", message: "expected a string", path: [k] });
        else out[k] = s;
      }
      return out;
    })
    .default({ ...defaults });
}

/** A config section: nulls dropped, then the object shape; a missing section gets every default. */
export function section<T extends z.core.$ZodLooseShape>(shape: T) {
  return z.preprocess(withoutNulls, z.object(shape, { error: "expected a map of settings" })).prefault({});
}
