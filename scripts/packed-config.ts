/**
 * The cluster config a Lambda bundle carries: only the keys the functions read (the `used` keys of
 * lib/config's key spec) of the one cluster section they load, as JSON. A whole Arvados config.yml
 * holds the cluster's secrets (SystemRootToken, ManagementToken, the PostgreSQL password,
 * BlobSigningKey, DispatchPrivateKey, the volumes' and the cloud driver's keys); anyone who can read
 * the deployment bucket or call lambda:GetFunction could read them in a zip, so none of that is
 * packed. What was dropped is reported by key path, never by value.
 */
import { isDeepStrictEqual } from "node:util";
import { ConfigError, formatPath } from "../lib/config/errors.js";
import type { KeySpec } from "../lib/config/key-check.js";
import { type LoadedConfig, type ParseOptions, parseClusterConfig } from "../lib/config/load.js";
import { clusterKeySpec } from "../lib/config/schema.js";
import { type ConfigNode, isConfigMap, readYamlTree, YamlScalar } from "../lib/config/yaml-tree.js";

/** The name DISPATCH_CONFIG gives the packed config inside a Lambda bundle (serverless.yml). */
export const packedConfigName = "cluster-config.json";

/** A config ready to pack. */
export interface PackedConfig {
  /** The JSON text to pack: `{"Clusters": {"<id>": {...}}}`, or a bare section when the file had no id. */
  json: string;
  /** The config as the functions will load it (the same as from the original file). */
  loaded: LoadedConfig;
  /** Paths (cluster-relative) of every key left out. */
  dropped: string[];
  /** Those of them, or keys inside them, whose names say they hold a secret. */
  droppedSecrets: string[];
}

/**
 * Key names that hold credentials in an Arvados config: SystemRootToken, ManagementToken,
 * AnonymousUserToken, BlobSigningKey, DispatchPrivateKey, AccessKeyID, SecretAccessKey,
 * ClientSecret, SecretKeyBase, PostgreSQL's `password`, TLS `Key`. Anchored at the end, so
 * settings about tokens (MaxTokenLifetime) are not counted; a public key is no secret.
 */
const secretKeyName = /(token|key|keyid|password|passwd)$|secret/i;
const publicKeyName = /publickey$/i;

function isSecretName(name: string): boolean {
  return secretKeyName.test(name) && !publicKeyName.test(name);
}

/** Paths of the secret-named keys at or under `node` (a dropped key). */
function secretsUnder(node: ConfigNode, path: string[], name: string, out: string[]): void {
  if (isSecretName(name)) {
    out.push(formatPath(path));
    return;
  }
  if (isConfigMap(node)) for (const [key, value] of Object.entries(node)) secretsUnder(value, [...path, key], key, out);
}

interface Kept {
  node: ConfigNode;
  dropped: string[];
  droppedSecrets: string[];
}

/** `node` with only the keys `spec` reads; what was left out is appended to `out`. */
function keepRead(node: ConfigNode, spec: KeySpec, path: string[], out: Kept): ConfigNode {
  if (!isConfigMap(node)) return node;
  const kept: Record<string, ConfigNode> = {};
  const put = (key: string, value: ConfigNode) =>
    Object.defineProperty(kept, key, { value, enumerable: true, writable: true, configurable: true });
  for (const [key, value] of Object.entries(node)) {
    const keyPath = [...path, key];
    if (spec.kind === "map") {
      put(key, keepRead(value, spec.entry, keyPath, out));
    } else if (spec.used.includes(key)) {
      const child = spec.children?.[key];
      put(key, child === undefined ? value : keepRead(value, child, keyPath, out));
    } else {
      out.dropped.push(formatPath(keyPath));
      secretsUnder(value, keyPath, key, out.droppedSecrets);
    }
  }
  return kept;
}

/**
 * JSON text for a config tree. An unquoted YAML number or boolean keeps the text it was written
 * as when that is JSON too (`9.0` stays `9.0`, which a string setting reads as "9.0"); other
 * spellings (`yes`, `0x10`) become their value. packConfig checks the result loads the same.
 */
function toJson(node: ConfigNode): string {
  if (node === null) return "null";
  if (typeof node === "string") return JSON.stringify(node);
  if (node instanceof YamlScalar) {
    const source = node.source.trim();
    try {
      if (JSON.parse(source) === node.value) return source;
    } catch {
      // not JSON: fall through to the value
    }
    return JSON.stringify(node.value);
  }
  if (Array.isArray(node)) return `[${node.map(toJson).join(",")}]`;
  return `{${Object.entries(node)
    .map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`)
    .join(",")}}`;
}

/** The first path where two loaded configs differ, for a message. */
function firstDifference(a: unknown, b: unknown, path: string[] = []): string | undefined {
  if (isDeepStrictEqual(a, b)) return undefined;
  if (typeof a === "object" && a !== null && typeof b === "object" && b !== null) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const found = firstDifference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], [
        ...path,
        key,
      ]);
      if (found !== undefined) return found;
    }
  }
  return formatPath(path);
}

/**
 * Validates config text (YAML or JSON, a whole config file or one cluster section) and returns
 * what to pack: the keys the functions read, of the cluster they load, as JSON that loads to
 * exactly the same config. Throws the ConfigError of an invalid config, or one naming the key
 * whose value would not survive packing (quote it in the file).
 */
export function packConfig(text: string, opts: ParseOptions = {}): PackedConfig {
  const loaded = parseClusterConfig(text, opts);
  const id = loaded.config.ClusterID;
  const { tree } = readYamlTree(text, opts.source);
  const section =
    isConfigMap(tree) && Object.hasOwn(tree, "Clusters") && isConfigMap(tree.Clusters)
      ? (tree.Clusters[id] ?? null)
      : tree;
  const out: Kept = { node: null, dropped: [], droppedSecrets: [] };
  const kept = keepRead(section ?? {}, clusterKeySpec, [], out);
  // The other clusters of a multi-cluster file are left out whole.
  if (isConfigMap(tree) && isConfigMap(tree.Clusters)) {
    for (const [other, value] of Object.entries(tree.Clusters)) {
      if (other === id) continue;
      out.dropped.push(formatPath(["Clusters", other]));
      if (isConfigMap(value))
        for (const [key, v] of Object.entries(value))
          secretsUnder(v, ["Clusters", other, key], key, out.droppedSecrets);
    }
  }
  const json = id === "" ? toJson(kept) : `{"Clusters":{${JSON.stringify(id)}:${toJson(kept)}}}`;
  const repacked = parseClusterConfig(json, id === "" ? {} : { clusterId: id });
  const differs = firstDifference(repacked.config, loaded.config);
  if (differs !== undefined) {
    throw new ConfigError(
      [{ path: differs, message: "this value would change when packed as JSON: quote it in the file" }],
      opts.source,
    );
  }
  return { json: `${json}\n`, loaded, dropped: out.dropped, droppedSecrets: out.droppedSecrets };
}
