import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

// `npm test` runs the layer rules of .dependency-cruiser.cjs over the repository; these tests
// show that each rule can fail, on small trees that break it.

const repo = fileURLToPath(new URL("../..", import.meta.url));
const config = join(repo, ".dependency-cruiser.cjs");
const depcruise = join(repo, "node_modules", ".bin", "depcruise");
const run = promisify(execFile);
const trees: string[] = [];
afterAll(() => {
  for (const tree of trees) rmSync(tree, { recursive: true, force: true });
});

/** Writes `files` into a fresh tree with the repo's tsconfig layout and runs the checker there. */
async function check(files: Record<string, string>): Promise<{ ok: boolean; output: string }> {
  const root = mkdtempSync(join(tmpdir(), "layers-"));
  trees.push(root);
  const all = {
    ...files,
    "tsconfig.json": JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext" } }),
    "local/tsconfig.json": JSON.stringify({ extends: "../tsconfig.json", include: ["../lib", "../functions", "."] }),
  };
  for (const [path, text] of Object.entries(all)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  try {
    const folders = ["lib", "functions", "local"].filter((folder) => existsSync(join(root, folder)));
    const { stdout } = await run(depcruise, ["--config", config, ...folders], { cwd: root });
    return { ok: true, output: stdout };
  } catch (err) {
    return { ok: false, output: String((err as { stdout?: string }).stdout ?? err) };
  }
}

describe("the layer rules (README layout) fail a tree that breaks them", () => {
  it.each<[string, Record<string, string>]>([
    [
      "model-is-a-leaf",
      { "lib/model/entry.ts": 'import "../store/codec.js";\n', "lib/store/codec.ts": "export {};\n" },
    ],
    ["no-cycles", { "lib/queue/a.ts": 'import "./b.js";\n', "lib/queue/b.ts": 'import "./a.js";\n' }],
    [
      "use-cases-depend-on-ports",
      { "lib/launch/pass.ts": 'import "../store/queue-store.js";\n', "lib/store/queue-store.ts": "export {};\n" },
    ],
    [
      "adapters-serve-not-decide",
      { "lib/cloud/launch.ts": 'import "../scheduler/plan.js";\n', "lib/scheduler/plan.ts": "export {};\n" },
    ],
    [
      "decisions-are-pure",
      { "lib/scheduler/plan.ts": 'import "../arvados/client.js";\n', "lib/arvados/client.ts": "export {};\n" },
    ],
    [
      "lib-never-imports-dev-code",
      { "lib/queue/queue.ts": 'import "../../local/sim.js";\n', "local/sim.ts": "export {};\n" },
    ],
    [
      "functions-are-thin",
      {
        "functions/launch/handler.ts": 'import "../../lib/store/queue-store.js";\n',
        "lib/store/queue-store.ts": "export {};\n",
      },
    ],
  ])("%s", async (rule, files) => {
    const { ok, output } = await check(files);
    expect(ok).toBe(false);
    expect(output).toContain(rule);
  });

  it("passes a tree that follows them", async () => {
    const { ok, output } = await check({
      "lib/model/entry.ts": "export {};\n",
      "lib/launch/pass.ts": 'import "../model/entry.js";\nimport "../scheduler/plan.js";\n',
      "lib/scheduler/plan.ts": 'import "../model/entry.js";\n',
      "lib/store/queue-store.ts": 'import "../model/entry.js";\n',
      "lib/runtime/wire.ts": 'import "../store/queue-store.js";\nimport "../launch/pass.js";\n',
      "functions/launch/handler.ts": 'import "../../lib/runtime/wire.js";\n',
      "local/sim.ts": 'import "../lib/store/queue-store.js";\n',
    });
    expect(output).toContain("no dependency violations");
    expect(ok).toBe(true);
  });
});
