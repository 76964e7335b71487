/**
 * The built handlers for the local runner's end-to-end test: dist/<name>/index.mjs, reused when
 * every bundle is newer than every source it is built from, otherwise rebuilt with
 * `tsx scripts/build.ts` (what `npm run build` runs), so the test always drives current code.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const root = new URL("../..", import.meta.url).pathname;

/** The newest modification time of the sources the bundles are built from. */
function newestSource(): number {
  let newest = 0;
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      // The runner and simulators (local/) are part of no bundle: functions/ and lib/ are.
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  visit(join(root, "functions"));
  visit(join(root, "lib"));
  for (const file of ["scripts/build.ts", "package-lock.json"])
    newest = Math.max(newest, statSync(join(root, file)).mtimeMs);
  return newest;
}

/** Whether every function's bundle exists and is newer than its sources. */
export function bundlesAreFresh(): boolean {
  const names = readdirSync(join(root, "functions")).filter((n) =>
    existsSync(join(root, "functions", n, "handler.ts")),
  );
  const bundles = names.map((n) => join(root, "dist", n, "index.mjs"));
  if (bundles.some((b) => !existsSync(b))) return false;
  const oldestBundle = Math.min(...bundles.map((b) => statSync(b).mtimeMs));
  return oldestBundle > newestSource();
}

/**
 * Builds dist/ unless it is fresh, printing the build's output (each bundle's size); returns
 * whether a build ran. The global setup calls it once per run, before any test file.
 */
export async function ensureBuilt(): Promise<boolean> {
  if (bundlesAreFresh()) return false;
  const { stdout } = await promisify(execFile)(join(root, "node_modules", ".bin", "tsx"), ["scripts/build.ts"], {
    cwd: root,
    timeout: 180_000,
  });
  process.stdout.write(stdout);
  return true;
}
