/**
 * `npm run package`: build the bundles with the stage's cluster config inside, then
 * `osls package` (offline) into .serverless/. STAGE picks the stage (default dev); extra
 * arguments go to osls (e.g. `-- --region eu-west-1`). The config file is the one serverless.yml
 * names for the stage (param configFile), so there is one source of truth; the placeholder `dev`
 * stage falls back to the example config the local runner uses.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

const stage = process.env.STAGE ?? "dev";
const extra = process.argv.slice(2);
const osls = "node_modules/.bin/osls";

const printed = execFileSync(osls, ["print", "--stage", stage, "--path", "custom.dispatch", "--format", "json", ...extra], {
  encoding: "utf8",
});
const { configFile: named, clusterId } = JSON.parse(printed) as { configFile: string; clusterId: string };
const configFile = existsSync(named) ? named : stage === "dev" ? "lib/local/default-config.yml" : undefined;
if (configFile === undefined) {
  console.error(`stage ${stage}: cluster config ${named} not found (set the configFile param in serverless.yml)`);
  process.exit(1);
}
// The build checks that the config defines the stage's cluster: the functions load that section
// (ARVADOS_CLUSTER_ID) and the stream filters match its uuids.
execFileSync("node_modules/.bin/tsx", ["scripts/build.ts"], {
  stdio: "inherit",
  env: { ...process.env, CLUSTER_CONFIG: configFile, CLUSTER_ID: clusterId },
});
execFileSync(osls, ["package", "--stage", stage, ...extra], { stdio: "inherit" });
