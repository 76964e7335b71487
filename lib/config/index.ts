/** The dispatcher configuration: loading (§6), units, and the resolved types. */
export { type ConfigIssue, ConfigError } from "./errors.js";
export { type GoFloatResult, parseGoFloat } from "./go-float.js";
export { configFromEnv, type LoadedConfig, loadClusterConfig, type ParseOptions, parseClusterConfig } from "./load.js";
export { defaultInstanceTypeQuotaGroups } from "./schema.js";
export type * from "./types.js";
export { parseByteSize, parseDuration } from "./units.js";
