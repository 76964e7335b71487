/**
 * Key checking for the sections the dispatcher reads. Upstream only warns about keys it does
 * not know ("deprecated or unknown config entry"); here an unknown key in a section we read is
 * an error, because a typo (`PolInterval`) would otherwise silently fall back to a default.
 * Keys upstream defines that we do not use are reported as ignored, once, for the caller to log.
 */
import { type ConfigIssue, formatPath } from "./errors.js";
import { type ConfigNode, isConfigMap } from "./yaml-tree.js";

/** How to check the keys of one config object. */
export type KeySpec =
  | {
      kind: "section";
      /** Keys upstream defines here. */
      upstream: readonly string[];
      /** Keys this dispatcher reads; each must also be in `upstream`. */
      used: readonly string[];
      /** Keys accepted but ignored with this warning (a configured InstanceTypes.<name>.Scratch). */
      warn?: Readonly<Record<string, string>>;
      /** Used keys whose values are themselves checked sections or maps. */
      children?: Readonly<Record<string, KeySpec>>;
    }
  | {
      /** A map keyed by names the user chooses (InstanceTypes): every value follows `entry`. */
      kind: "map";
      entry: KeySpec;
    };

/** What the key check found. */
export interface KeyCheckResult {
  issues: ConfigIssue[];
  /** Paths of upstream keys present in the file that this dispatcher does not use. */
  ignored: string[];
  warnings: string[];
}

/** Levenshtein distance, for "perhaps you meant" hints on typos. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** Checks `node` against `spec`, appending to `out`. Values of the wrong kind are left to the schema. */
export function checkKeys(node: ConfigNode | undefined, spec: KeySpec, path: string[], out: KeyCheckResult): void {
  if (!isConfigMap(node)) return;
  if (spec.kind === "map") {
    for (const [name, value] of Object.entries(node)) checkKeys(value, spec.entry, [...path, name], out);
    return;
  }
  for (const [key, value] of Object.entries(node)) {
    const keyPath = [...path, key];
    const child = spec.children?.[key];
    const warning = spec.warn?.[key];
    if (spec.used.includes(key)) {
      if (child) checkKeys(value, child, keyPath, out);
    } else if (warning !== undefined) {
      out.warnings.push(`${formatPath(keyPath)}: ${warning}`);
    } else if (spec.upstream.includes(key)) {
      out.ignored.push(formatPath(keyPath));
    } else {
      const known = [...spec.upstream, ...Object.keys(spec.warn ?? {})];
      const near =
        known.find((k) => k.toLowerCase() === key.toLowerCase()) ??
        known.find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
      const hint = near === undefined ? "" : ` (perhaps you meant ${near}?)`;
      out.issues.push({ path: formatPath(keyPath), message: `unknown configuration key${hint}` });
    }
  }
}
