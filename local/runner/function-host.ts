/**
 * LambdaFunction runs one built handler (dist/<name>/index.mjs) the way Lambda does: each
 * execution environment is a child process with its own environment variables and its own cold
 * start, serving one invocation at a time; a busy function gets another environment, up to its
 * concurrency; an invocation past the function's timeout kills its environment. The children's
 * stdout/stderr (Powertools JSON logs, EMF metrics) go to the function's log file, not the
 * terminal.
 */
import { type ChildProcess, fork } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { HostMessage, SerializedError } from "./host-protocol.js";

/** A failed invocation: the handler threw, its environment failed to start, crashed, or timed out. */
export class FunctionError extends Error {
  override readonly name = "FunctionError";
  constructor(
    readonly functionName: string,
    /** Lambda's errorType: the thrown error's name, or Runtime.InitError / Runtime.ExitError / Sandbox.Timedout. */
    readonly errorType: string,
    message: string,
  ) {
    super(`${functionName}: ${errorType}: ${message}`);
  }
}

/** What invoked a function: an SQS mapping, a stream mapping, a schedule, another EventBridge rule, its URL. */
export type TriggerKind = "sqs" | "stream" | "schedule" | "event" | "url" | "other";

/** Invocations and billed time (the REPORT lines' Billed Duration) of one trigger. */
export interface TriggerStats {
  invocations: number;
  billedMs: number;
}

/** Invocation counters, for the display, the summary and the cost bench. */
export interface FunctionStats {
  invocations: number;
  errors: number;
  coldStarts: number;
  timeouts: number;
  running: number;
  /** Billed Duration summed over every REPORT line (invocations killed before theirs: their time until then). */
  billedMs: number;
  byTrigger: Partial<Record<TriggerKind, TriggerStats>>;
}

/** The trigger of a Lambda event, from its shape. */
export function triggerOf(event: unknown): TriggerKind {
  const e = event as {
    Records?: { eventSource?: string }[];
    source?: string;
    "detail-type"?: string;
    requestContext?: unknown;
  };
  const source = e?.Records?.[0]?.eventSource;
  if (source === "aws:sqs") return "sqs";
  if (source === "aws:dynamodb") return "stream";
  if (e?.source === "aws.events" && e["detail-type"] === "Scheduled Event") return "schedule";
  if (typeof e?.source === "string") return "event";
  if (e?.requestContext !== undefined) return "url";
  return "other";
}

/** How to run one function. */
export interface LambdaFunctionOptions {
  name: string;
  /** dist/<name>/index.mjs */
  bundlePath: string;
  /** The host script built by buildFunctionHost. */
  hostScript: string;
  /** The environment each execution environment gets (nothing else is inherited). */
  env: Record<string, string>;
  timeoutMs: number;
  /** Where stdout/stderr of every environment go (appended). */
  logFile: string;
  /** Concurrent environments (reserved concurrency); beyond it invocations wait for a free one. */
  maxEnvironments: number;
}

const hostSource = fileURLToPath(new URL("./function-host-child.ts", import.meta.url));

/**
 * Bundles the host script (TypeScript) into plain JavaScript at `outFile`, once per run, so the
 * children run on bare Node like Lambda's runtime: no TypeScript loader between them and the
 * function's bundle. Returns `outFile`.
 */
export async function buildFunctionHost(outFile: string): Promise<string> {
  await build({
    entryPoints: [hostSource],
    outfile: outFile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    sourcemap: true,
    logLevel: "warning",
  });
  return outFile;
}

/** One execution environment (a child process). */
class Environment {
  busy = false;
  dead = false;
  readonly ready: Promise<void>;
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** Told each invocation's Billed Duration, as its REPORT line says. */
  onBilled: (billedMs: number) => void = () => undefined;

  constructor(
    private readonly options: LambdaFunctionOptions,
    logFd: number,
  ) {
    this.child = fork(options.hostScript, [options.bundlePath, options.name], {
      env: options.env,
      execArgv: ["--enable-source-maps"],
      stdio: ["ignore", logFd, logFd, "ipc"],
      serialization: "json",
    });
    this.ready = new Promise<void>((resolve, reject) => {
      this.child.on("message", (message: HostMessage) => {
        if (message.type === "ready") resolve();
        else if (message.type === "init-error") {
          this.retire();
          reject(this.error(message.error.name === "Error" ? "Runtime.InitError" : message.error.name, message.error));
        } else if (message.type === "result") {
          this.onBilled(message.billedMs);
          const waiter = this.pending.get(message.id);
          this.pending.delete(message.id);
          if (message.ok) waiter?.resolve(message.value);
          else waiter?.reject(this.error(message.error.name, message.error));
        }
      });
      this.child.once("exit", (code, signal) => {
        this.dead = true;
        const why = new FunctionError(
          options.name,
          "Runtime.ExitError",
          `environment exited (${signal ?? `code ${code}`})`,
        );
        reject(why);
        for (const waiter of this.pending.values()) waiter.reject(why);
        this.pending.clear();
      });
    });
    // A rejected `ready` is reported to whoever invokes; never leave it unhandled.
    this.ready.catch(() => undefined);
  }

  private error(errorType: string, error: SerializedError): FunctionError {
    return new FunctionError(this.options.name, errorType, error.message);
  }

  /** Runs one invocation; rejects with FunctionError. A timeout kills the environment, as Lambda does. */
  async invoke(event: unknown): Promise<unknown> {
    await this.ready;
    if (this.dead) throw new FunctionError(this.options.name, "Runtime.ExitError", "environment is gone");
    const id = this.nextId++;
    const { timeoutMs, name } = this.options;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.retire();
        reject(
          new FunctionError(name, "Sandbox.Timedout", `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`),
        );
      }, timeoutMs + 500);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ type: "invoke", id, event, timeoutMs }, (err) => {
        if (err) this.pending.get(id)?.reject(new FunctionError(name, "Runtime.ExitError", err.message));
      });
    });
  }

  /** Ends the environment at once. */
  retire(): void {
    this.dead = true;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }

  /** Resolves once the process has exited. */
  exited(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => this.child.once("exit", () => resolve()));
  }
}

/** A LambdaFunction is one function's pool of execution environments. */
export class LambdaFunction {
  readonly stats: FunctionStats = {
    invocations: 0,
    errors: 0,
    coldStarts: 0,
    timeouts: 0,
    running: 0,
    billedMs: 0,
    byTrigger: {},
  };
  private readonly environments: Environment[] = [];
  private readonly waiting: (() => void)[] = [];
  private readonly logFd: number;
  private stopped = false;

  constructor(readonly options: LambdaFunctionOptions) {
    if (!existsSync(options.bundlePath)) {
      throw new Error(`${options.bundlePath} does not exist: run npm run build`);
    }
    this.logFd = openSync(options.logFile, "a");
  }

  get name(): string {
    return this.options.name;
  }

  /** Starts one environment ahead of the first invocation (a provisioned cold start); resolves when it is ready. */
  async warm(): Promise<void> {
    if (this.environments.some((e) => !e.dead)) return;
    const env = this.spawn();
    await env.ready;
  }

  /** Invokes the handler with `event`; resolves with its result or rejects with a FunctionError. */
  async invoke(event: unknown): Promise<unknown> {
    if (this.stopped) throw new FunctionError(this.name, "Runtime.Stopped", "the runner is stopping");
    const env = await this.acquire();
    this.stats.invocations++;
    this.stats.running++;
    const trigger = triggerOf(event);
    const byTrigger = this.stats.byTrigger[trigger] ?? { invocations: 0, billedMs: 0 };
    this.stats.byTrigger[trigger] = byTrigger;
    byTrigger.invocations++;
    env.onBilled = (billedMs) => {
      byTrigger.billedMs += billedMs;
      this.stats.billedMs += billedMs;
    };
    try {
      return await env.invoke(event);
    } catch (err) {
      this.stats.errors++;
      if (err instanceof FunctionError && err.errorType === "Sandbox.Timedout") this.stats.timeouts++;
      throw err;
    } finally {
      this.stats.running--;
      env.busy = false;
      this.waiting.shift()?.();
    }
  }

  /**
   * Kills every environment serving an invocation right now, as a crash of the runtime would:
   * each such invocation fails with Runtime.ExitError and the next one cold-starts. Fault soaks
   * use it to stop a handler between two of its steps; returns how many were killed.
   */
  crash(): number {
    let killed = 0;
    for (const env of this.environments) {
      if (env.busy && !env.dead) {
        env.retire();
        killed++;
      }
    }
    return killed;
  }

  private spawn(): Environment {
    const env = new Environment(this.options, this.logFd);
    this.stats.coldStarts++;
    this.environments.push(env);
    return env;
  }

  private async acquire(): Promise<Environment> {
    for (;;) {
      // Forget environments that died (timeout, crash, init error): the next invocation starts a new one.
      for (let i = this.environments.length - 1; i >= 0; i--)
        if (this.environments[i]?.dead) this.environments.splice(i, 1);
      const idle = this.environments.find((e) => !e.busy);
      const env = idle ?? (this.environments.length < this.options.maxEnvironments ? this.spawn() : undefined);
      if (env !== undefined) {
        env.busy = true;
        return env;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
      if (this.stopped) throw new FunctionError(this.name, "Runtime.Stopped", "the runner is stopping");
    }
  }

  /** Kills every environment (in-flight invocations fail) and closes the log file. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.waiting.splice(0)) wake();
    const environments = this.environments.splice(0);
    for (const env of environments) env.retire();
    await Promise.all(environments.map((env) => env.exited()));
    closeSync(this.logFd);
  }
}
