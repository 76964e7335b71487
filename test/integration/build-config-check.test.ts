import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { maxUserDataBytes } from "../../lib/cloud/launch-user-data.js";
import { testClusterConfigYaml } from "../support/cluster-config.js";

const repo = new URL("../..", import.meta.url).pathname;

/**
 * A copy of the sources the build reads, in a temporary directory, so `scripts/build.ts` runs
 * for real without touching this checkout's dist/ (which other tests use), even if it built.
 */
function buildTree(): string {
  const root = mkdtempSync(join(tmpdir(), "build-config-check-"));
  for (const dir of ["functions", "lib", "scripts"]) cpSync(join(repo, dir), join(root, dir), { recursive: true });
  for (const file of ["package.json", "tsconfig.json"]) cpSync(join(repo, file), join(root, file));
  symlinkSync(join(repo, "node_modules"), join(root, "node_modules"), "dir");
  return root;
}

/** Runs `tsx scripts/build.ts` in `root` with CLUSTER_CONFIG; returns its exit code and output. */
async function build(root: string, configFile: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      join(root, "node_modules", ".bin", "tsx"),
      ["scripts/build.ts"],
      {
        cwd: root,
        env: { ...process.env, CLUSTER_CONFIG: configFile, CLUSTER_ID: "zzzzz" },
        timeout: 120_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

describe("npm run build refuses a CLUSTER_CONFIG whose EC2 user data could pass 16 KB", () => {
  it("fails before building anything, naming the key that makes it large", { timeout: 150_000 }, async () => {
    const root = buildTree();
    const configFile = join(root, "config.yml");
    writeFileSync(configFile, testClusterConfigYaml(`InstanceInitCommand: "${"x".repeat(maxUserDataBytes)}"`));
    const result = await build(root, configFile);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`invalid dispatcher configuration (${configFile})`);
    expect(result.stderr).toContain(`over EC2's limit of ${maxUserDataBytes} bytes`);
    expect(result.stderr).toContain(`Containers.CloudVMs.InstanceInitCommand: ${maxUserDataBytes} bytes`);
    expect(existsSync(join(root, "dist"))).toBe(false);
  });
});
