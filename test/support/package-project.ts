/**
 * A throwaway copy of the project to run `npm run package` in (scripts/package.ts, as the npm
 * script runs it), so a test can package a stage from its own config/<stage>.yml without touching
 * the dist/ and .serverless/ that `npm run build`, `npm start` and the other tests use.
 * serverless.yml, infra/ and scripts/ are copied; lib/, functions/ and node_modules/ are linked.
 * The run gets no AWS variables and a private HOME, as packaging needs no credentials.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";

const root = new URL("../..", import.meta.url).pathname;

/** What one `npm run package` printed, and how it ended. */
export interface PackageRun {
  status: number;
  stdout: string;
  stderr: string;
}

export class PackageProject {
  private constructor(readonly dir: string) {}

  /** A copy of the project with `files` (path → text, e.g. config/xyzzy.yml) added. */
  static create(files: Record<string, string> = {}): PackageProject {
    const dir = mkdtempSync(join(tmpdir(), "arvados-dispatch-project-"));
    for (const name of ["serverless.yml", "package.json", "tsconfig.json"]) cpSync(join(root, name), join(dir, name));
    for (const name of ["infra", "scripts"]) cpSync(join(root, name), join(dir, name), { recursive: true });
    for (const name of ["lib", "functions", "node_modules"]) symlinkSync(join(root, name), join(dir, name));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    return new PackageProject(dir);
  }

  /** `STAGE=<stage> npm run package -- <args>`; resolves however it exits. */
  package(stage: string, args: readonly string[] = []): Promise<PackageRun> {
    return this.run(join(this.dir, "node_modules", ".bin", "tsx"), ["scripts/package.ts", ...args], { STAGE: stage });
  }

  /**
   * `npx osls <args>` in the copy, with no AWS credentials anywhere (nor the EC2 metadata
   * service to look for them in), so a deploy stops where it would first talk to AWS.
   */
  osls(args: readonly string[]): Promise<PackageRun> {
    return this.run(join(this.dir, "node_modules", ".bin", "osls"), args, { AWS_EC2_METADATA_DISABLED: "true" });
  }

  private run(command: string, args: readonly string[], env: Record<string, string>): Promise<PackageRun> {
    return new Promise((resolve) => {
      execFile(
        command,
        args,
        {
          cwd: this.dir,
          timeout: 300_000,
          maxBuffer: 16 * 1024 * 1024,
          env: {
            // npm puts node_modules/.bin first: the Node 22 that runs every npm script.
            PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH ?? "/usr/bin:/bin"}`,
            HOME: join(this.dir, "home"),
            NO_COLOR: "1",
            ...env,
          },
        },
        (err, stdout, stderr) => {
          const status = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
          resolve({ status, stdout, stderr });
        },
      );
    });
  }

  /** Every file under `sub` (a directory of the copy), by path relative to the copy; [] if absent. */
  files(sub: string): string[] {
    const out: string[] = [];
    const visit = (path: string) => {
      for (const entry of readdirSync(path, { withFileTypes: true })) {
        const full = join(path, entry.name);
        if (entry.isDirectory()) visit(full);
        else out.push(relative(this.dir, full));
      }
    };
    try {
      visit(join(this.dir, sub));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    return out.sort();
  }

  read(path: string): Buffer {
    return readFileSync(join(this.dir, path));
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
