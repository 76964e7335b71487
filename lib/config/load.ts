/**
 * Loading the dispatcher configuration: the cluster section of an Arvados config file (§6),
 * validated in full at load, with upstream defaults. Invalid configuration never reaches the
 * handlers: every problem found is reported at once in one ConfigError.
 */
import { readFileSync } from "node:fs";
import { type ConfigIssue, ConfigError, formatPath } from "./errors.js";
import { buildInstanceTypes } from "./instance-type-map.js";
import { checkKeys, type KeyCheckResult, type KeySpec } from "./key-check.js";
import { upstreamTopLevelKeys } from "./known-keys.js";
import { clusterKeySpec, clusterSectionSchema } from "./schema.js";
import type { ClusterConfig } from "./types.js";
import { type ConfigNode, isConfigMap, readYamlTree } from "./yaml-tree.js";

/** Options for parsing a configuration. */
export interface ParseOptions {
  /** Which `Clusters.<id>` to use when the file lists several (required then). */
  clusterId?: string;
  /** Where the text came from, for messages (e.g. the file path). */
  source?: string;
}

/** A loaded configuration, plus what the caller should log once. */
export interface LoadedConfig {
  config: ClusterConfig;
  /**
   * Paths of upstream keys present in the file that this dispatcher does not use (e.g. `API`,
   * `Containers.SLURM`), relative to the cluster section, and upstream's top-level keys other
   * than `Clusters` (`AutoReloadConfig`).
   */
  ignored: string[];
  warnings: string[];
}

/** Upstream checkClusterID: five lowercase alphanumerics. */
const CLUSTER_ID = /^[a-z0-9]{5}$/;

/** The top level of a whole config file: `Clusters` is read, upstream's other keys are ignored. */
const topLevelKeySpec: KeySpec = { kind: "section", upstream: upstreamTopLevelKeys, used: ["Clusters"] };

/**
 * Finds the cluster section: `Clusters.<id>` in a whole config file, or the text itself if it
 * is a bare section. `ignored` lists upstream's other top-level keys present in the file.
 */
function selectCluster(tree: ConfigNode, opts: ParseOptions): { id: string; section: ConfigNode; ignored: string[] } {
  const fail = (message: string, path = ""): never => {
    throw new ConfigError([{ path, message }], opts.source);
  };
  if (!isConfigMap(tree)) return fail("expected a map: an Arvados config file (Clusters: ...) or one cluster section");
  if (opts.clusterId !== undefined && !CLUSTER_ID.test(opts.clusterId)) {
    return fail(
      `cluster ID ${JSON.stringify(opts.clusterId)} should be 5 lowercase alphanumeric characters`,
      "Clusters",
    );
  }
  if (!Object.hasOwn(tree, "Clusters")) return { id: opts.clusterId ?? "", section: tree, ignored: [] };
  const top: KeyCheckResult = { issues: [], ignored: [], warnings: [] };
  checkKeys(tree, topLevelKeySpec, [], top);
  if (top.issues.length > 0) {
    const known = upstreamTopLevelKeys.join(", ");
    throw new ConfigError(
      top.issues.map((i) => ({ path: i.path, message: `${i.message}: a config file's top level holds ${known}` })),
      opts.source,
    );
  }
  const clusters = tree.Clusters;
  if (!isConfigMap(clusters) || Object.keys(clusters).length === 0) return fail("no clusters defined", "Clusters");
  const ids = Object.keys(clusters);
  let id: string;
  if (opts.clusterId !== undefined) {
    if (!Object.hasOwn(clusters, opts.clusterId)) {
      return fail(
        `cluster ${JSON.stringify(opts.clusterId)} is not defined (the file defines ${ids.join(", ")})`,
        "Clusters",
      );
    }
    id = opts.clusterId;
  } else if (ids.length === 1 && ids[0] !== undefined) {
    id = ids[0];
  } else {
    return fail(`the file defines several clusters (${ids.join(", ")}); choose one with clusterId`, "Clusters");
  }
  if (!CLUSTER_ID.test(id)) fail("cluster ID should be 5 lowercase alphanumeric characters", `Clusters.${id}`);
  return { id, section: clusters[id] ?? null, ignored: top.ignored };
}

/**
 * Parses configuration text (YAML or JSON): a whole Arvados config file (`Clusters: {<id>: ...}`,
 * one cluster, or the one named by `opts.clusterId`) or a bare cluster section. Returns the
 * resolved ClusterConfig (bytes, milliseconds, upstream defaults), the upstream keys present
 * but unused, and warnings. Throws a ConfigError listing every problem; messages name key
 * paths relative to the cluster section and never show secret values.
 */
export function parseClusterConfig(text: string, opts: ParseOptions = {}): LoadedConfig {
  const { tree, warnings } = readYamlTree(text, opts.source);
  if (tree === null) throw new ConfigError([{ path: "", message: "the configuration is empty" }], opts.source);
  const { id, section, ignored: topIgnored } = selectCluster(tree, opts);
  const source = opts.source === undefined ? undefined : id === "" ? opts.source : `${opts.source}, cluster ${id}`;

  const keys: KeyCheckResult = { issues: [], ignored: [...topIgnored], warnings };
  checkKeys(section ?? {}, clusterKeySpec, [], keys);
  const issues: ConfigIssue[] = [...keys.issues];

  const parsed = clusterSectionSchema.safeParse(section ?? {});
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      issues.push({
        path: formatPath(issue.path.map((p) => (typeof p === "symbol" ? String(p) : p))),
        message: issue.message,
      });
    }
    throw new ConfigError(issues, source);
  }
  const { Containers, InstanceTypes } = parsed.data;
  const types = buildInstanceTypes(InstanceTypes, Containers.PreemptiblePriceFactor);
  issues.push(...types.issues);
  if (issues.length > 0) throw new ConfigError(issues, source);

  const config: ClusterConfig = { ClusterID: id, Containers, InstanceTypes: types.instanceTypes };
  return { config, ignored: keys.ignored, warnings: [...keys.warnings, ...types.warnings] };
}

function readText(file: string, issuePath: string, source: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "read error";
    throw new ConfigError([{ path: issuePath, message: `cannot read ${JSON.stringify(file)} (${code})` }], source);
  }
}

/** Reads and parses a configuration file (synchronously: once per cold start). Throws ConfigError. */
export function loadClusterConfig(path: string, opts: Omit<ParseOptions, "source"> = {}): LoadedConfig {
  return parseClusterConfig(readText(path, "", path), { ...opts, source: path });
}

/**
 * Loads the configuration named by `DISPATCH_CONFIG` (a file path), the cluster section named by
 * `ARVADOS_CLUSTER_ID` when set (the deployment's stage param, which also scopes the stream
 * filters and metrics). Throws a ConfigError naming DISPATCH_CONFIG when it is unset or the file
 * cannot be read, and one naming the cluster when the file does not define it.
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const path = env.DISPATCH_CONFIG;
  if (path === undefined || path === "") {
    throw new ConfigError(
      [
        {
          path: "DISPATCH_CONFIG",
          message: "environment variable is not set; it must name the cluster config file (YAML or JSON)",
        },
      ],
      "environment",
    );
  }
  const clusterId = env.ARVADOS_CLUSTER_ID || undefined;
  return parseClusterConfig(readText(path, "DISPATCH_CONFIG", "environment"), {
    source: path,
    ...(clusterId ? { clusterId } : {}),
  });
}
