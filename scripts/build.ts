/**
 * Bundles each functions/<name>/handler.ts into dist/<name>/index.mjs (ESM, node22, minified,
 * source maps, AWS SDK included so each Lambda carries exactly the versions we test) and packs
 * it as dist/<name>.zip, the prebuilt artifact serverless.yml deploys. Prints each bundle's size.
 *
 * With CLUSTER_CONFIG=<path>, the cluster config is validated (a bad one fails the build, not a
 * cold start), including the size of the EC2 user data it can produce (the deployment's values,
 * not known here, counted at their longest), and what the functions read of it is packed into
 * every zip as cluster-config.json, where DISPATCH_CONFIG points (scripts/packed-config.ts):
 * never the cluster's secrets, whatever the file holds. With CLUSTER_ID as well, the file must
 * define that cluster (the section the functions load). The build names the secret-bearing keys
 * it left out, never their values.
 */
import { createWriteStream, existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import yazl from "yazl";
import { checkUserDataFits } from "../lib/cloud/launch-user-data.js";
import { ConfigError } from "../lib/config/errors.js";
import { type PackedConfig, packConfig, packedConfigName } from "./packed-config.js";

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

async function zipDirectory(dir: string, files: string[], out: string, config?: PackedConfig): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const file of files) zip.addFile(join(dir, file), file, { mtime: zipEpoch, mode: 0o644 });
  if (config !== undefined) zip.addBuffer(Buffer.from(config.json), packedConfigName, { mtime: zipEpoch, mode: 0o644 });
  zip.end();
  await new Promise<void>((resolve, reject) => {
    zip.outputStream.pipe(createWriteStream(out)).on("close", resolve).on("error", reject);
  });
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** Reads, validates and trims the cluster config, saying what it left out (key names only). */
function clusterConfig(path: string, clusterId: string | undefined): PackedConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(
      [
        {
          path: "",
          message: `cannot read ${JSON.stringify(path)} (${(err as NodeJS.ErrnoException).code ?? "read error"})`,
        },
      ],
      path,
    );
  }
  const packed = packConfig(text, { source: path, ...(clusterId ? { clusterId } : {}) });
  checkUserDataFits(packed.loaded.config, {}, path);
  const id = packed.loaded.config.ClusterID;
  console.log(
    `cluster config ${path}: cluster ${id || "(bare section)"} valid; packing as ${packedConfigName} only the keys the functions read (${packed.dropped.length} keys left out)`,
  );
  if (packed.droppedSecrets.length > 0) {
    console.log(
      `  secrets left out (never packed; keep them out of the committed file too): ${packed.droppedSecrets.join(", ")}`,
    );
  }
  for (const warning of packed.loaded.warnings) console.log(`  warning: ${warning}`);
  return packed;
}

async function main(): Promise<void> {
  const configPath = process.env.CLUSTER_CONFIG || undefined;
  const config = configPath === undefined ? undefined : clusterConfig(configPath, process.env.CLUSTER_ID || undefined);
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
