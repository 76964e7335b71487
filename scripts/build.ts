/**
 * Bundles each functions/<name>/handler.ts into dist/<name>/index.mjs (ESM, node22, minified,
 * source maps, AWS SDK included so each Lambda carries exactly the versions we test) and packs
 * it as dist/<name>.zip, the prebuilt artifact serverless.yml deploys. Prints each bundle's size.
 *
 * With CLUSTER_CONFIG=<path>, the cluster config is validated (a bad one fails the build, not a
 * cold start), including the size of the EC2 user data it can produce (the deployment's values,
 * not known here, counted at their longest), and packed into every zip as cluster-config.yml,
 * where DISPATCH_CONFIG points.
 * With CLUSTER_ID as well, the file must define that cluster (the section the functions load).
 */
import { createWriteStream, existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import yazl from "yazl";
import { checkUserDataFits } from "../lib/cloud/launch-user-data.js";
import { ConfigError } from "../lib/config/errors.js";
import { loadClusterConfig } from "../lib/config/load.js";

const root = new URL("..", import.meta.url).pathname;
const functionsDir = join(root, "functions");
const distDir = join(root, "dist");

/** Every function that has a handler: the directory names under functions/. */
export function functionNames(): string[] {
  return readdirSync(functionsDir)
    .filter((name) => existsSync(join(functionsDir, name, "handler.ts")))
    .sort();
}

/** Zip timestamps start in 1980; a fixed one keeps artifacts byte-identical across builds. */
const zipEpoch = new Date(Date.UTC(1980, 0, 1));

/** The name DISPATCH_CONFIG gives the cluster config inside a Lambda bundle. */
export const bundledConfigName = "cluster-config.yml";

async function zipDirectory(dir: string, files: string[], out: string, config?: string): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const file of files) zip.addFile(join(dir, file), file, { mtime: zipEpoch, mode: 0o644 });
  if (config !== undefined) zip.addFile(config, bundledConfigName, { mtime: zipEpoch, mode: 0o644 });
  zip.end();
  await new Promise<void>((resolve, reject) => {
    zip.outputStream.pipe(createWriteStream(out)).on("close", resolve).on("error", reject);
  });
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

async function main(): Promise<void> {
  const config = process.env.CLUSTER_CONFIG || undefined;
  if (config !== undefined) {
    const clusterId = process.env.CLUSTER_ID || undefined;
    const { config: cluster, ignored, warnings } = loadClusterConfig(config, clusterId ? { clusterId } : {});
    checkUserDataFits(cluster, {}, config);
    console.log(`cluster config ${config}: cluster ${cluster.ClusterID || "(bare section)"} valid (${ignored.length} upstream keys not used here)`);
    for (const warning of warnings) console.log(`  warning: ${warning}`);
  }
  rmSync(distDir, { recursive: true, force: true });
  const names = functionNames();
  for (const name of names) {
    const outdir = join(distDir, name);
    await build({
      entryPoints: [join(functionsDir, name, "handler.ts")],
      outfile: join(outdir, "index.mjs"),
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node22",
      minify: true,
      sourcemap: true,
      legalComments: "none",
      logLevel: "warning",
      // CommonJS dependencies inside an ESM bundle still call require() for Node built-ins.
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    });
    await zipDirectory(outdir, ["index.mjs", "index.mjs.map"], join(distDir, `${name}.zip`), config);
    const bundle = statSync(join(outdir, "index.mjs")).size;
    const zipped = statSync(join(distDir, `${name}.zip`)).size;
    console.log(`${name.padEnd(24)} index.mjs ${kib(bundle).padStart(11)}   zip ${kib(zipped).padStart(11)}`);
  }
  console.log(`built ${names.length} functions into dist/`);
}

try {
  await main();
} catch (err) {
  // A bad cluster config is the user's to fix: say what is wrong, without a stack trace.
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exitCode = 1;
}
