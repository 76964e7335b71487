/**
 * Reads the functions' triggers from serverless.yml itself, so the local runner wires exactly
 * what AWS would: each function's timeout and reserved concurrency, its EventBridge schedules,
 * its DynamoDB stream event source mappings (filter patterns, batch size, batching window,
 * bisect, retries, partial batch responses), and whether it has a Function URL. serverless.yml holds osls variables (`${...}`)
 * and CloudFormation tags (`!Ref`, `!GetAtt`, ...): tags become inert placeholders, and the
 * variables the triggers use (`${param:...}`, `${sls:stage}`, `${opt:x, 'default'}`) are
 * substituted from the file's own params plus the caller's overrides.
 */
import { readFileSync } from "node:fs";
import { parse, type Tags } from "yaml";
import type { Json } from "../event-filter.js";

/** Where serverless.yml lives. */
export const serverlessYmlPath = new URL("../../serverless.yml", import.meta.url);

/** One `stream` event of a function, with AWS's defaults filled in. */
export interface StreamEventSpec {
  filterPatterns: Json[];
  batchSize: number;
  maximumBatchingWindowMs: number;
  bisectBatchOnFunctionError: boolean;
  /** Infinity when unset: AWS retries until the record expires. */
  maximumRetryAttempts: number;
  /** Without ReportBatchItemFailures, Lambda ignores a batch response's item failures. */
  reportBatchItemFailures: boolean;
  startingPosition: string;
}

/** One `sqs` event of a function (an SQS event source mapping), with AWS's defaults filled in. */
export interface SqsEventSpec {
  /** The queue's logical id in the template (`!GetAtt <Queue>.Arn`). */
  queue: string;
  batchSize: number;
  maximumBatchingWindowMs: number;
  /** The mapping's maximum concurrency (ScalingConfig); undefined: the function's own limit. */
  maximumConcurrency?: number;
  reportBatchItemFailures: boolean;
}

/** An `AWS::SQS::Queue` of the template's resources, reduced to what delivery depends on. */
export interface QueueSpec {
  logicalId: string;
  visibilityTimeoutMs: number;
  retentionMs: number;
}

/** One `schedule` event: its expression and its period. */
export interface ScheduleSpec {
  expression: string;
  rateMs: number;
}

/** A function as serverless.yml declares it, reduced to what its invocation depends on. */
export interface FunctionSpec {
  name: string;
  timeoutMs: number;
  /** memorySize (MB): what Lambda bills GB-seconds by. */
  memoryMb: number;
  /** Reserved concurrency, if the function has one. */
  reservedConcurrency?: number;
  schedules: ScheduleSpec[];
  streams: StreamEventSpec[];
  /** `eventBridge` patterns (the runner may emulate some; they are listed for completeness). */
  eventBridgePatterns: Json[];
  /** `url`: the function has a Lambda Function URL (the runner serves it over HTTP on loopback). */
  url: boolean;
  sqs: SqsEventSpec[];
  /** The function's environment variables that hold a queue's URL (`!Ref <Queue>`): name → logical id. */
  queueUrls: Record<string, string>;
}

/** What the runner needs from serverless.yml. */
export interface ServerlessSpec {
  functions: FunctionSpec[];
  /** The SQS queues of the `resources` files serverless.yml includes. */
  queues: QueueSpec[];
}

/** serverless.yml says something the runner cannot read. */
export class ServerlessSpecError extends Error {
  override readonly name = "ServerlessSpecError";
}

// osls's default when neither the function nor the provider sets a timeout.
const defaultTimeoutSeconds = 6;
// AWS's default batch size for a DynamoDB stream mapping.
const defaultStreamBatchSize = 100;

const cfnFunctions = [
  "Ref",
  "GetAtt",
  "Sub",
  "Join",
  "Select",
  "Split",
  "If",
  "Equals",
  "Not",
  "And",
  "Or",
  "Base64",
  "Cidr",
  "FindInMap",
  "GetAZs",
  "ImportValue",
  "Condition",
];

/** Every CloudFormation short-form tag, scalar and collection, as a `{ "Fn::X": value }` placeholder. */
function cloudFormationTags(): Tags {
  const key = (name: string) => (name === "Ref" || name === "Condition" ? name : `Fn::${name}`);
  return cfnFunctions.flatMap((name) => [
    { tag: `!${name}`, resolve: (value: string) => ({ [key(name)]: value }) },
    {
      tag: `!${name}`,
      collection: "seq" as const,
      resolve: (value: { toJSON(): unknown }) => ({ [key(name)]: value.toJSON() }),
    },
    {
      tag: `!${name}`,
      collection: "map" as const,
      resolve: (value: { toJSON(): unknown }) => ({ [key(name)]: value.toJSON() }),
    },
  ]);
}

type Plain = null | boolean | number | string | Plain[] | { [key: string]: Plain };

function isMap(value: unknown): value is { [key: string]: Plain } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A resolver for the osls variables the triggers use. Unknown sources (`file(...)`, `env:`, ...)
 * are left as written: nothing the runner reads depends on them.
 */
function variableResolver(params: Record<string, Plain>, stage: string): (text: string) => string {
  const resolveOne = (expression: string, depth: number): string | undefined => {
    const [source, fallback] = splitFallback(expression);
    let value: string | undefined;
    if (source.startsWith("param:")) {
      const param = params[source.slice("param:".length)];
      value = param === undefined || param === null ? undefined : typeof param === "object" ? undefined : String(param);
    } else if (source === "sls:stage" || source === "opt:stage") {
      value = stage;
    }
    if (value === undefined && fallback !== undefined) value = fallback;
    return value === undefined ? undefined : substitute(value, depth + 1);
  };
  const substitute = (text: string, depth: number): string => {
    if (depth > 10)
      throw new ServerlessSpecError(`serverless.yml: variables nest too deeply in ${JSON.stringify(text)}`);
    return text.replace(
      /\$\{([^{}]+)\}/g,
      (whole, expression: string) => resolveOne(expression.trim(), depth) ?? whole,
    );
  };
  return (text) => substitute(text, 0);
}

/** `opt:stage, 'dev'` → ["opt:stage", "dev"]. */
function splitFallback(expression: string): [string, string | undefined] {
  const comma = expression.indexOf(",");
  if (comma < 0) return [expression, undefined];
  const fallback = expression
    .slice(comma + 1)
    .trim()
    .replace(/^(['"])(.*)\1$/, "$2");
  return [expression.slice(0, comma).trim(), fallback];
}

function substituteDeep(value: Plain, resolve: (text: string) => string): Plain {
  if (typeof value === "string") return resolve(value);
  if (Array.isArray(value)) return value.map((v) => substituteDeep(v, resolve));
  if (isMap(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteDeep(v, resolve)]));
  return value;
}

/** `rate(1 minute)`, `rate(5 minutes)`, `rate(2 hours)`, `rate(1 day)` → ms; undefined for cron. */
export function rateToMs(expression: string): number | undefined {
  const match = /^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$/.exec(expression.trim());
  if (match === null) return undefined;
  const unit = (match[2] ?? "").replace(/s$/, "");
  const unitMs = unit === "minute" ? 60_000 : unit === "hour" ? 3_600_000 : 86_400_000;
  return Number(match[1]) * unitMs;
}

function numberOr(value: Plain | undefined, fallback: number, what: string): number {
  if (value === undefined || value === null) return fallback;
  const n = typeof value === "string" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isFinite(n))
    throw new ServerlessSpecError(`serverless.yml: ${what} is not a number`);
  return n;
}

function schedulesOf(event: Plain, functionName: string): ScheduleSpec[] {
  const raw = isMap(event) ? event.rate : event;
  const expressions = (Array.isArray(raw) ? raw : [raw]).filter((x): x is string => typeof x === "string");
  if (isMap(event) && event.enabled === false) return [];
  return expressions.flatMap((expression) => {
    const rateMs = rateToMs(expression);
    if (rateMs === undefined) {
      throw new ServerlessSpecError(
        `serverless.yml: ${functionName}: schedule ${expression} is not a rate() the runner can emulate`,
      );
    }
    return [{ expression, rateMs }];
  });
}

function streamOf(event: Plain, functionName: string): StreamEventSpec {
  if (!isMap(event)) throw new ServerlessSpecError(`serverless.yml: ${functionName}: a stream event must be a map`);
  const retries = event.maximumRetryAttempts;
  const patterns = event.filterPatterns ?? [];
  if (!Array.isArray(patterns))
    throw new ServerlessSpecError(`serverless.yml: ${functionName}: filterPatterns must be a list`);
  return {
    filterPatterns: patterns as Json[],
    batchSize: numberOr(event.batchSize, defaultStreamBatchSize, `${functionName}.batchSize`),
    maximumBatchingWindowMs:
      numberOr(event.batchWindow ?? event.maximumBatchingWindow, 0, `${functionName}.batchWindow`) * 1000,
    bisectBatchOnFunctionError: event.bisectBatchOnFunctionError === true,
    maximumRetryAttempts:
      retries === undefined || retries === null || retries === -1
        ? Number.POSITIVE_INFINITY
        : numberOr(retries, 0, `${functionName}.maximumRetryAttempts`),
    reportBatchItemFailures: event.functionResponseType === "ReportBatchItemFailures",
    startingPosition: typeof event.startingPosition === "string" ? event.startingPosition : "TRIM_HORIZON",
  };
}

/** The logical id `X` of `{"Fn::GetAtt": "X.Arn"}` or `{"Fn::GetAtt": ["X", "Arn"]}`. */
function getAttArnOf(value: Plain | undefined): string | undefined {
  if (!isMap(value)) return undefined;
  const att = value["Fn::GetAtt"];
  if (typeof att === "string" && att.endsWith(".Arn")) return att.slice(0, -".Arn".length);
  if (Array.isArray(att) && att[1] === "Arn" && typeof att[0] === "string") return att[0];
  return undefined;
}

function sqsOf(event: Plain, functionName: string): SqsEventSpec {
  const raw: Plain = typeof event === "string" ? { arn: event } : event;
  if (!isMap(raw)) throw new ServerlessSpecError(`serverless.yml: ${functionName}: an sqs event must be a map`);
  const queue = getAttArnOf(raw.arn);
  if (queue === undefined)
    throw new ServerlessSpecError(`serverless.yml: ${functionName}: sqs arn must be !GetAtt <Queue>.Arn`);
  return {
    queue,
    // AWS's default batch size for SQS is 10.
    batchSize: numberOr(raw.batchSize, 10, `${functionName}.sqs.batchSize`),
    maximumBatchingWindowMs: numberOr(raw.maximumBatchingWindow, 0, `${functionName}.sqs.maximumBatchingWindow`) * 1000,
    ...(raw.maximumConcurrency === undefined
      ? {}
      : { maximumConcurrency: numberOr(raw.maximumConcurrency, 2, `${functionName}.sqs.maximumConcurrency`) }),
    reportBatchItemFailures: raw.functionResponseType === "ReportBatchItemFailures",
  };
}

/** SQS queues of the `${file(...)}` resource files (YAML) serverless.yml lists, with SQS's defaults. */
function queuesOf(resources: Plain | undefined, readFile: (path: string) => string): QueueSpec[] {
  const queues: QueueSpec[] = [];
  for (const entry of Array.isArray(resources) ? resources : []) {
    const match = typeof entry === "string" ? /^\$\{file\(([^)]+\.ya?ml)\)\}$/.exec(entry) : null;
    if (match?.[1] === undefined) continue;
    const doc: unknown = parse(readFile(match[1]), { customTags: cloudFormationTags() });
    const resourceMap = isMap(doc) && isMap(doc.Resources) ? doc.Resources : {};
    for (const [logicalId, resource] of Object.entries(resourceMap)) {
      if (!isMap(resource) || resource.Type !== "AWS::SQS::Queue") continue;
      const props = isMap(resource.Properties) ? resource.Properties : {};
      queues.push({
        logicalId,
        visibilityTimeoutMs: numberOr(props.VisibilityTimeout, 30, `${logicalId}.VisibilityTimeout`) * 1000,
        retentionMs: numberOr(props.MessageRetentionPeriod, 345_600, `${logicalId}.MessageRetentionPeriod`) * 1000,
      });
    }
  }
  return queues;
}

/**
 * Parses serverless.yml text. `overrides` replace params (e.g. `clusterId` from the cluster
 * config, so the filters' uuid prefix matches the containers the runner will see); `stage`
 * picks the params block (default `dev`, as `osls package` does).
 */
export function parseServerlessSpec(
  text: string,
  options: { stage?: string; overrides?: Record<string, string>; readFile?: (path: string) => string } = {},
): ServerlessSpec {
  const stage = options.stage ?? "dev";
  const doc: unknown = parse(text, { customTags: cloudFormationTags() });
  if (!isMap(doc)) throw new ServerlessSpecError("serverless.yml: not a map");
  const paramsBlock = isMap(doc.params) ? doc.params : {};
  const params: Record<string, Plain> = {
    ...(isMap(paramsBlock.default) ? paramsBlock.default : {}),
    ...(isMap(paramsBlock[stage]) ? paramsBlock[stage] : {}),
    ...options.overrides,
  };
  const resolve = variableResolver(params, stage);
  const provider = isMap(doc.provider) ? doc.provider : {};
  const providerTimeout = numberOr(provider.timeout, defaultTimeoutSeconds, "provider.timeout");
  // osls's default memory size.
  const providerMemory = numberOr(provider.memorySize, 1024, "provider.memorySize");
  const functions = isMap(doc.functions) ? doc.functions : {};

  return {
    queues: queuesOf(
      doc.resources,
      options.readFile ?? ((path) => readFileSync(new URL(path, serverlessYmlPath), "utf8")),
    ),
    functions: Object.entries(functions).map(([name, raw]): FunctionSpec => {
      if (!isMap(raw)) throw new ServerlessSpecError(`serverless.yml: function ${name} is not a map`);
      const spec: FunctionSpec = {
        name,
        timeoutMs: numberOr(raw.timeout, providerTimeout, `${name}.timeout`) * 1000,
        memoryMb: numberOr(raw.memorySize, providerMemory, `${name}.memorySize`),
        schedules: [],
        streams: [],
        eventBridgePatterns: [],
        url: raw.url !== undefined && raw.url !== null && raw.url !== false,
        sqs: [],
        queueUrls: {},
      };
      for (const [variable, value] of Object.entries(isMap(raw.environment) ? raw.environment : {})) {
        if (isMap(value) && typeof value.Ref === "string") spec.queueUrls[variable] = value.Ref;
      }
      if (raw.reservedConcurrency !== undefined)
        spec.reservedConcurrency = numberOr(raw.reservedConcurrency, 0, `${name}.reservedConcurrency`);
      for (const event of Array.isArray(raw.events) ? raw.events : []) {
        if (!isMap(event)) continue;
        const resolved = substituteDeep(event, resolve);
        if (!isMap(resolved)) continue;
        if (resolved.schedule !== undefined) spec.schedules.push(...schedulesOf(resolved.schedule, name));
        if (resolved.stream !== undefined) spec.streams.push(streamOf(resolved.stream, name));
        if (resolved.sqs !== undefined) spec.sqs.push(sqsOf(resolved.sqs, name));
        if (isMap(resolved.eventBridge) && resolved.eventBridge.pattern !== undefined) {
          spec.eventBridgePatterns.push(resolved.eventBridge.pattern as Json);
        }
      }
      return spec;
    }),
  };
}

/** Reads and parses the project's serverless.yml (see parseServerlessSpec). */
export function readServerlessSpec(
  options: { stage?: string; overrides?: Record<string, string> } = {},
): ServerlessSpec {
  return parseServerlessSpec(readFileSync(serverlessYmlPath, "utf8"), options);
}

/** The spec of one function, or a ServerlessSpecError naming it. */
export function functionSpec(spec: ServerlessSpec, name: string): FunctionSpec {
  const found = spec.functions.find((f) => f.name === name);
  if (found === undefined) throw new ServerlessSpecError(`serverless.yml declares no function ${name}`);
  return found;
}
