/**
 * `npm run package`: check the stage, build the bundles with what the functions read of the
 * stage's cluster config, then `osls package` (offline) into .serverless/. STAGE picks the stage
 * (default dev); extra arguments go to osls (e.g. `-- --region eu-west-1 --param "name=value"`).
 * The config file is the one serverless.yml names for the stage (param configFile), so there is
 * one source of truth.
 *
 * An operator's mistake stops it before anything is built, in one line: required params missing
 * (all of them named), or params that disagree with the config (the IAM policies are built from
 * the params, the launches from the config, so a difference would only show as AccessDenied at
 * launch). It ends with the deploy command, with the same osls arguments.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { ConfigError } from "../lib/config/errors.js";
import { loadClusterConfig } from "../lib/config/load.js";
import type { ClusterConfig } from "../lib/config/types.js";

const root = new URL("..", import.meta.url).pathname;
const stage = process.env.STAGE ?? "dev";
const extra = process.argv.slice(2);
const osls = join(root, "node_modules", ".bin", "osls");
const stageValues = createRequire(import.meta.url)("../infra/stage-values.cjs") as {
  requiredParams: readonly string[];
  missingParamsMessage: (stage: string, names: readonly string[]) => string;
};

/** Stops with one message and no stack trace: these are the operator's to fix. */
function refuse(message: string): never {
  console.error(message);
  process.exit(1);
}

/** The names of the params given with `--param "name=value"` (or `--param=name=value`). */
function paramArguments(args: readonly string[]): Map<string, string> {
  const given = new Map<string, string>();
  args.forEach((arg, i) => {
    const value =
      arg === "--param" ? args[i + 1] : arg.startsWith("--param=") ? arg.slice("--param=".length) : undefined;
    const eq = value?.indexOf("=") ?? -1;
    if (value !== undefined && eq > 0) given.set(value.slice(0, eq), value.slice(eq + 1));
  });
  return given;
}

/** Required params that neither serverless.yml (default or the stage's block) nor `--param` sets. */
function missingParams(): string[] {
  const doc = parse(readFileSync(join(root, "serverless.yml"), "utf8"), { logLevel: "silent" }) as {
    params?: Record<string, Record<string, unknown> | null>;
  };
  const set = (value: unknown) => value !== undefined && value !== null && String(value).trim() !== "";
  const fromFile = { ...doc.params?.default, ...doc.params?.[stage] };
  const fromArgs = paramArguments(extra);
  return stageValues.requiredParams.filter((name) => !set(fromArgs.get(name)) && !set(fromFile[name]));
}

/** What osls prints when it fails, without its banner. */
function oslsMessage(output: string): string {
  return output
    .split("\n")
    .filter((line) => line.trim() !== "" && !/^(Environment|Docs|Support|Bugs|Error):/.test(line.trim()))
    .join("\n");
}

/** The stage's values the checks need, as osls resolves them (`custom.dispatch` in serverless.yml). */
interface StageValues {
  configFile: string;
  clusterId: string;
  tagKeyPrefix: string;
  imageId: string;
  computeSubnetIds: string | string[];
  computeSecurityGroupIds: string | string[];
}

function resolvedStageValues(): StageValues {
  const printed = spawnSync(
    osls,
    ["print", "--stage", stage, "--path", "custom.dispatch", "--format", "json", ...extra],
    {
      cwd: root,
      encoding: "utf8",
    },
  );
  if (printed.status !== 0)
    refuse(oslsMessage(`${printed.stdout}${printed.stderr}`) || `osls print failed (exit ${printed.status})`);
  return JSON.parse(printed.stdout) as StageValues;
}

/** A list param as a YAML list or "a,b". */
function ids(value: string | string[]): string[] {
  return (Array.isArray(value) ? value : String(value).split(","))
    .map((id) => String(id).trim())
    .filter((id) => id !== "");
}

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x) => b.includes(x)) && b.every((x) => a.includes(x));
const shown = (list: readonly string[]) => (list.length === 0 ? "(none)" : list.join(","));

/** Each way the params and the config disagree, as "param X vs config key Y". */
function disagreements(values: StageValues, config: ClusterConfig): string[] {
  const cloudVMs = config.Containers.CloudVMs;
  const driver = cloudVMs.DriverParameters;
  const out: string[] = [];
  const subnets = ids(values.computeSubnetIds);
  if (!sameSet(subnets, driver.SubnetID)) {
    out.push(
      `computeSubnetIds ${shown(subnets)} vs Containers.CloudVMs.DriverParameters.SubnetID ${shown(driver.SubnetID)}`,
    );
  }
  const groups = ids(values.computeSecurityGroupIds);
  if (!sameSet(groups, driver.SecurityGroupIDs)) {
    out.push(
      `computeSecurityGroupIds ${shown(groups)} vs Containers.CloudVMs.DriverParameters.SecurityGroupIDs ${shown(driver.SecurityGroupIDs)}`,
    );
  }
  if (String(values.tagKeyPrefix) !== cloudVMs.TagKeyPrefix) {
    out.push(`tagKeyPrefix ${values.tagKeyPrefix} vs Containers.CloudVMs.TagKeyPrefix ${cloudVMs.TagKeyPrefix}`);
  }
  if (String(values.imageId) !== cloudVMs.ImageID) {
    out.push(`imageId ${values.imageId} vs Containers.CloudVMs.ImageID ${cloudVMs.ImageID || "(none)"}`);
  }
  return out;
}

/** A shell word for the printed deploy command. */
function shellWord(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

const missing = missingParams();
if (missing.length > 0) refuse(stageValues.missingParamsMessage(stage, missing));

const values = resolvedStageValues();
const configFile = values.configFile;
if (!existsSync(resolve(root, configFile))) {
  refuse(
    `stage ${stage}: cluster config ${configFile} not found (README "Deploying", step 3; or set the configFile param)`,
  );
}
let config: ClusterConfig;
try {
  config = loadClusterConfig(resolve(root, configFile), { clusterId: values.clusterId }).config;
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  refuse(err.message);
}
const differ = disagreements(values, config);
if (differ.length > 0) refuse(`stage ${stage}: params and ${configFile} disagree: ${differ.join("; ")}`);

// The build checks that the config defines the stage's cluster: the functions load that section
// (ARVADOS_CLUSTER_ID) and the stream filters match its uuids.
try {
  execFileSync(join(root, "node_modules", ".bin", "tsx"), [join(root, "scripts", "build.ts")], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, CLUSTER_CONFIG: configFile, CLUSTER_ID: values.clusterId },
  });
  execFileSync(osls, ["package", "--stage", stage, ...extra], { cwd: root, stdio: "inherit" });
} catch (err) {
  // Both printed their own errors.
  process.exit((err as { status?: number }).status ?? 1);
}
console.log(
  `\nDeploy this package (with the cluster account's credentials):\n  npx osls deploy --stage ${stage} ${[...extra, "--package", ".serverless"].map(shellWord).join(" ")}`,
);
