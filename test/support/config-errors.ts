import { ConfigError } from "../../lib/config/errors.js";
import { type LoadedConfig, parseClusterConfig } from "../../lib/config/load.js";

/** A bare cluster section in YAML, loaded. */
export function parse(yaml: string): LoadedConfig {
  return parseClusterConfig(yaml);
}

/** The ConfigError a config must raise; fails the test if it loads. */
export function configError(yaml: string, opts: { clusterId?: string } = {}): ConfigError {
  try {
    parseClusterConfig(yaml, opts);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("configuration was accepted");
}

/** The key paths a ConfigError names. */
export function issuePaths(err: ConfigError): string[] {
  return err.issues.map((i) => i.path);
}
