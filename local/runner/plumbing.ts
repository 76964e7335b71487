/**
 * The AWS plumbing of serverless.yml, locally: one LambdaFunction per function (the built
 * bundle in child processes), the DynamoDB stream mappings through a StreamPump, and the
 * EventBridge schedules as timers scaled to the local tick.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type PumpChaos, StreamPump } from "../stream-pump.js";
import { LambdaFunction } from "./function-host.js";
import { EventRules } from "./event-rules.js";
import { Schedules } from "./schedules.js";
import type { ServerlessSpec } from "./serverless-mappings.js";
import { functionEnvironment, type Services } from "./services.js";
import { SqsMappings } from "./sqs-local.js";
import { type StreamFailures, streamMappings } from "./stream-mappings.js";

/** The project has not been built: a bundle the runner must invoke is missing. */
export class BuildMissingError extends Error {
  override readonly name = "BuildMissingError";
  constructor(readonly missing: string[]) {
    super(`missing ${missing.join(", ")}: run npm run build`);
  }
}

/** The bundle of each function: dist/<name>/index.mjs. */
export function bundlePaths(spec: ServerlessSpec, distDir: string): Map<string, string> {
  return new Map(spec.functions.map((f) => [f.name, join(distDir, f.name, "index.mjs")]));
}

/** Throws BuildMissingError unless every function's bundle exists. */
export function requireBuild(spec: ServerlessSpec, distDir: string): void {
  const missing = [...bundlePaths(spec, distDir).values()].filter((path) => !existsSync(path));
  if (missing.length > 0) throw new BuildMissingError(missing);
}

/** What the plumbing needs to know. */
export interface PlumbingOptions {
  spec: ServerlessSpec;
  services: Services;
  distDir: string;
  logDir: string;
  configPath: string;
  logLevel: string;
  aws: boolean;
  parentEnv: NodeJS.ProcessEnv;
  /** Local length of EventBridge's one minute. */
  tickMs: number;
  /** Told about each failed scheduled invocation. */
  onError?: (functionName: string, err: unknown) => void;
  /** Redelivered and reordered stream batches, for fault soaks (read live: change its rates to stop them). */
  pumpChaos?: PumpChaos;
  /** The ManagementToken the dispatch API accepts. */
  managementToken?: string;
}

/** The running plumbing. */
export interface Plumbing {
  functions: Map<string, LambdaFunction>;
  pump: StreamPump;
  schedules: Schedules;
  /** serverless.yml's `eventBridge` rules: publish an event to invoke the functions it matches. */
  events: EventRules;
  /** serverless.yml's SQS event source mappings (undefined with --aws, where Lambda plays them). */
  sqsMappings?: SqsMappings;
  streamFailures: StreamFailures;
  /** Cold-starts one environment of every function; rejects with the first init error. */
  warm(): Promise<void>;
  /** Starts the stream mappings and the schedules. */
  start(): void;
  stop(): Promise<void>;
}

/** Builds (without starting) the functions, stream mappings and schedules of `spec`. */
export function createPlumbing(options: PlumbingOptions & { hostScript: string }): Plumbing {
  const { spec, services } = options;
  mkdirSync(options.logDir, { recursive: true });
  const bundles = bundlePaths(spec, options.distDir);
  const functions = new Map<string, LambdaFunction>();
  for (const f of spec.functions) {
    const logFile = join(options.logDir, `${f.name}.log`);
    writeFileSync(logFile, ""); // one run per log file
    functions.set(
      f.name,
      new LambdaFunction({
        name: f.name,
        bundlePath: bundles.get(f.name) ?? "",
        hostScript: options.hostScript,
        env: functionEnvironment(services, {
          ...options,
          functionName: f.name,
          queueUrls: f.queueUrls,
          memoryMb: f.memoryMb,
        }),
        timeoutMs: f.timeoutMs,
        logFile,
        // Reserved concurrency where set; otherwise room for a stream batch and a scheduled pass at once.
        maxEnvironments: f.reservedConcurrency ?? 2,
      }),
    );
  }
  const streamFailures: StreamFailures = { records: 0, batches: 0 };
  const failureLog = join(options.logDir, "stream-failures.log");
  writeFileSync(failureLog, "");
  // The pump polls a little faster than Lambda's four reads a second per shard, which is fine locally.
  let stopping = false;
  const mappings = streamMappings(spec.functions, functions, failureLog, streamFailures, () => stopping);
  const pump = new StreamPump(services.streams, services.streamArn, mappings, undefined, options.pumpChaos);
  const schedules = new Schedules(
    spec.functions.flatMap((f) => {
      const target = functions.get(f.name);
      if (target === undefined) return [];
      return f.schedules.map((s) => ({
        target,
        expression: s.expression,
        periodMs: Math.max(100, (s.rateMs * options.tickMs) / 60_000),
      }));
    }),
    services.region,
    options.onError,
  );
  const events = new EventRules(
    spec.functions.flatMap((f) => {
      const target = functions.get(f.name);
      return target === undefined ? [] : [{ target, patterns: f.eventBridgePatterns }];
    }),
    options.onError,
  );
  const sqsMappings = services.sqs === undefined ? undefined : new SqsMappings(services.sqs, spec.functions, functions);
  let pumpStarted = false;
  return {
    functions,
    pump,
    schedules,
    events,
    ...(sqsMappings === undefined ? {} : { sqsMappings }),
    streamFailures,
    warm: async () => {
      await Promise.all([...functions.values()].map((f) => f.warm()));
    },
    start: () => {
      pump.start();
      pumpStarted = true;
      schedules.start();
      sqsMappings?.start();
    },
    stop: async () => {
      stopping = true;
      schedules.stop();
      sqsMappings?.stop();
      // Stop the pump's loop first, then the functions, so a delivery in flight fails fast.
      const pumpStopped = pumpStarted ? pump.stop() : Promise.resolve();
      await Promise.all([...functions.values()].map((f) => f.stop()));
      await pumpStopped;
    },
  };
}
