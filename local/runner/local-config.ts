/**
 * The cluster config a local run gives its functions (DISPATCH_CONFIG): the user's own file
 * as is (`--config`), or a copy of local/default-config.yml with a short PollInterval, so
 * update-queue notices new containers within seconds of a local tick rather than in 10 s.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isMap, parseDocument } from "yaml";
import { loadClusterConfig } from "../../lib/config/load.js";
import type { ClusterConfig } from "../../lib/config/types.js";

/** The example config the runner uses when none is given. */
export const defaultConfigPath = fileURLToPath(new URL("../default-config.yml", import.meta.url));

/** The config file the functions read, and the config it resolves to. */
export interface LocalConfig {
  path: string;
  config: ClusterConfig;
}

/**
 * Writes `source` into `stateDir/config.yml` with `Containers.CloudVMs.PollInterval` set to
 * `pollInterval` and any other `cloudVMs` keys set as given (comments kept), in the whole-file
 * or bare-section layout alike.
 */
export function writeLocalConfig(
  source: string,
  stateDir: string,
  pollInterval: string,
  cloudVMs: Readonly<Record<string, string | number>> = {},
): string {
  const doc = parseDocument(readFileSync(source, "utf8"));
  const clusters = doc.get("Clusters");
  const prefix = isMap(clusters) ? ["Clusters", String(clusters.items[0]?.key ?? "")] : [];
  doc.setIn([...prefix, "Containers", "CloudVMs", "PollInterval"], pollInterval);
  for (const [key, value] of Object.entries(cloudVMs)) doc.setIn([...prefix, "Containers", "CloudVMs", key], value);
  mkdirSync(stateDir, { recursive: true });
  const path = join(stateDir, "config.yml");
  const header = `# Written by the local runner from ${source}, with PollInterval ${pollInterval}. Edits are overwritten.\n`;
  writeFileSync(path, header + doc.toString());
  return path;
}

/**
 * The config for a run: `userConfig` when given (validated here so a bad file fails before
 * anything starts), else the default example with the short poll interval.
 */
export function prepareLocalConfig(options: {
  userConfig?: string;
  stateDir: string;
  pollInterval: string;
}): LocalConfig {
  const path = options.userConfig ?? writeLocalConfig(defaultConfigPath, options.stateDir, options.pollInterval);
  return { path, config: loadClusterConfig(path).config };
}
