/**
 * Reads config text (YAML, or JSON, which is YAML) into a plain tree: objects, arrays,
 * strings, null, and YamlScalar leaves for unquoted numbers and booleans.
 *
 * Upstream reads YAML 1.1 through go-yaml v2 (`yes`/`on` are booleans, `0755` is octal), so
 * this does too. Unquoted numbers and booleans keep the text they were written as: a string
 * setting written `HardwareTarget: 9.0` means "9.0", not "9", and `SSHPort: 22` means "22".
 */
import { isScalar, parseDocument, type ScalarTag, type Tags } from "yaml";
import { ConfigError } from "./errors.js";

/** An unquoted YAML number or boolean, with the text it was written as. */
export class YamlScalar {
  constructor(
    readonly value: number | boolean,
    readonly source: string,
  ) {}
}

/** A config tree as read from text: no Maps, no Dates, no undefined. */
export type ConfigNode = string | null | YamlScalar | ConfigNode[] | { [key: string]: ConfigNode };

/** True for a map node (a plain object), false for lists, scalars and null. */
export function isConfigMap(node: ConfigNode | undefined): node is { [key: string]: ConfigNode } {
  return typeof node === "object" && node !== null && Object.getPrototypeOf(node) === Object.prototype;
}

const NUMBER_OR_BOOL = new Set(["tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool"]);

/**
 * The YAML 1.1 tag set as go-yaml v2 resolves plain scalars: numbers and booleans become
 * YamlScalar; implicit timestamps and sexagesimal numbers ("1:30"), which go-yaml v2 does not
 * resolve, stay strings.
 */
function goYamlTags(tags: Tags): Tags {
  const out: Tags = [];
  for (const tag of tags) {
    if (typeof tag === "string" || tag.collection !== undefined || !NUMBER_OR_BOOL.has(tag.tag)) {
      out.push(tag);
      continue;
    }
    if (tag.format === "TIME") continue;
    out.push(wrapScalarTag(tag));
  }
  return out.filter((tag) => typeof tag === "string" || tag.tag !== "tag:yaml.org,2002:timestamp");
}

/** The same tag, resolving to a YamlScalar that remembers the written text. */
function wrapScalarTag(tag: ScalarTag): ScalarTag {
  return {
    ...tag,
    resolve: (source, onError, options) => {
      const resolved = tag.resolve(source, onError, options);
      const value = isScalar(resolved) ? resolved.value : resolved;
      if (typeof value === "number" || typeof value === "boolean") return new YamlScalar(value, source);
      if (typeof value === "bigint") return new YamlScalar(Number(value), source);
      return resolved;
    },
  };
}

function keyText(key: unknown): string {
  if (key instanceof YamlScalar) return key.source;
  if (key === null || key === undefined) return "";
  return typeof key === "string" ? key : JSON.stringify(key);
}

/**
 * How far YAML aliases may expand a config beyond its own text, in the units of `Budget`. An
 * alias repeats its anchor's whole value, so a few lines can stand for gigabytes ("billion
 * laughs"); a real config uses aliases, if at all, to share a few small settings.
 */
export const maxAliasExpansion = 1 << 20;

/**
 * yaml's own guard, checked while aliases are resolved: an anchor's uses times the aliases
 * inside it. A config that shares one flat setting block among 1000 instance types passes.
 */
export const maxAliasCount = 1000;

/**
 * What is left of the expanded size a config may have: each node costs 1, each key and scalar
 * its length. Without aliases a tree never costs more than its text (each node and character
 * is written out), so the budget is the text's length plus `maxAliasExpansion`.
 */
interface Budget {
  left: number;
}

function spend(budget: Budget, cost: number): void {
  budget.left -= Math.max(1, cost);
  if (budget.left < 0) throw aliasExpansionError();
}

function aliasExpansionError(): ConfigError {
  return new ConfigError([
    {
      path: "",
      message: `YAML aliases expand the configuration too far (more than ${maxAliasExpansion} characters beyond its own text, or anchors used more than ${maxAliasCount} times): refusing a document built to exhaust memory ("billion laughs"); write repeated values out or use fewer aliases`,
    },
  ]);
}

/** Converts yaml's `toJS({ mapAsMap: true })` output into a ConfigNode tree, within `budget`. */
function toTree(value: unknown, path: string, budget: Budget): ConfigNode {
  if (value === null || value === undefined) {
    spend(budget, 1);
    return null;
  }
  if (typeof value === "string") {
    spend(budget, value.length);
    return value;
  }
  if (value instanceof YamlScalar) {
    spend(budget, value.source.length);
    return value;
  }
  spend(budget, 1);
  if (Array.isArray(value)) return value.map((v, i) => toTree(v, `${path}[${i}]`, budget));
  if (value instanceof Map) {
    const out: { [key: string]: ConfigNode } = {};
    for (const [k, v] of value) {
      const key = keyText(k);
      spend(budget, key.length);
      if (Object.hasOwn(out, key)) {
        throw new ConfigError([{ path, message: `duplicate key ${JSON.stringify(key)}` }]);
      }
      // Defined, not assigned: `out["__proto__"] = …` would set the prototype and the key would
      // vanish (or smuggle settings in) instead of being checked like any other key.
      Object.defineProperty(out, key, {
        value: toTree(v, path === "" ? key : `${path}.${key}`, budget),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  if (value instanceof Set) return [...value].map((v, i) => toTree(v, `${path}[${i}]`, budget));
  // Binary (!!binary) and other exotic explicit tags have no place in a dispatcher config.
  throw new ConfigError([{ path, message: "unsupported YAML value type" }]);
}

// yaml's messages name syntax fragments (an escape, a tag), never a whole value; keep them short anyway.
function firstLine(message: string): string {
  return (message.split("\n")[0] ?? "").slice(0, 120);
}

/** The result of reading config text: the tree and any YAML warnings. */
export interface YamlTree {
  tree: ConfigNode;
  warnings: string[];
}

/**
 * Reads YAML or JSON text into a ConfigNode tree. Syntax errors, duplicate keys, multiple
 * documents and aliases that expand too far (`maxAliasExpansion`, `maxAliasCount`) throw a
 * ConfigError; messages give line and column and yaml's short description, never the offending
 * line, which might hold a secret.
 */
export function readYamlTree(text: string, source?: string): YamlTree {
  const doc = parseDocument(text, {
    version: "1.1",
    customTags: goYamlTags,
    prettyErrors: false,
    uniqueKeys: true,
  });
  // With prettyErrors off, yaml gives offsets only: turn them into line and column.
  const where = (e: { pos: readonly [number, number] }): string => {
    const before = text.slice(0, e.pos[0]);
    const line = before.split("\n").length;
    const col = e.pos[0] - before.lastIndexOf("\n");
    return ` at line ${line}, column ${col}`;
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({ path: "", message: `YAML error${where(e)}: ${firstLine(e.message)}` })),
      source,
    );
  }
  const warnings = doc.warnings.map((w) => `YAML warning${where(w)}: ${firstLine(w.message)}`);
  try {
    return {
      tree: toTree(doc.toJS({ mapAsMap: true, maxAliasCount }), "", { left: text.length + maxAliasExpansion }),
      warnings,
    };
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.issues, source);
    // yaml's alias guard throws a ReferenceError ("Excessive alias count ...").
    if (err instanceof ReferenceError) throw new ConfigError(aliasExpansionError().issues, source);
    throw new ConfigError([{ path: "", message: `YAML could not be converted: ${(err as Error).name}` }], source);
  }
}
