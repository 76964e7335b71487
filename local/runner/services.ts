/**
 * The services a local run talks to: DynamoDB (Local, embedded, or AWS), the Arvados API (the
 * simulator, or a real cluster) and EC2 (the simulator, or AWS), plus the queue table created
 * from infra/queue-table.yml. Everything local listens on 127.0.0.1 only.
 */
import { createHash, randomBytes } from "node:crypto";
import { DescribeTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBStreamsClient } from "@aws-sdk/client-dynamodb-streams";
import { ArvadosSimulator } from "../arvados-sim/simulator.js";
import { type DynamoDbLocal, DynamoDbLocalError, startDynamoDbLocal } from "../dynamodb-local.js";
import type { TokenBucketSettings } from "../ec2-sim/faults.js";
import { Ec2Simulator } from "../ec2-sim/simulator.js";
import { ensureQueueTable } from "../queue-table.js";
import { readServerlessSpec } from "./serverless-mappings.js";
import { LocalSqs, type SqsChaos } from "./sqs-local.js";

/** A port the user asked for is taken. */
export class PortBusyError extends Error {
  override readonly name = "PortBusyError";
  constructor(
    readonly service: string,
    readonly port: number,
  ) {
    super(`${service}: port ${port} is busy: choose another port, or stop what listens there`);
  }
}

/** A setting the chosen mode needs is missing. */
export class RunnerSetupError extends Error {
  override readonly name = "RunnerSetupError";
}

/** What to start. */
export interface ServiceOptions {
  clusterId: string;
  /** Use AWS's DynamoDB and EC2 as the AWS_* environment says; start nothing local for them. */
  aws: boolean;
  /** Use the Arvados cluster of ARVADOS_API_HOST / ARVADOS_API_TOKEN instead of the simulator. */
  realArvados: boolean;
  /** Start the EC2 simulator (unless --aws); a dry run needs no EC2 at all. */
  withEc2: boolean;
  /** An already running DynamoDB Local to use (tests share one); otherwise one is started. */
  dynamodbEndpoint?: string;
  dynamodbPort?: number;
  arvadosPort?: number;
  ec2Port?: number;
  /** EC2 simulator lifecycle: time pending → running and shutting-down → terminated. */
  ec2PendingMs: number;
  ec2ShuttingDownMs: number;
  /** EC2 simulator's RunInstances throttle model (EC2's token bucket); off by default. */
  ec2Throttle?: boolean | TokenBucketSettings;
  /** How far the EC2 simulator's DescribeInstances lags behind (eventual consistency); default 0. */
  ec2ListingLagMs?: number;
  /** Lost, duplicated and late SQS messages (read live); none by default. */
  sqsChaos?: SqsChaos;
  env: NodeJS.ProcessEnv;
}

/** The running services. The Arvados token is held here and never printed. */
export interface Services {
  clusterId: string;
  region: string;
  /** Endpoint of DynamoDB Local (undefined with --aws). */
  dynamodbEndpoint?: string;
  ddb: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  tableName: string;
  streamArn: string;
  arvadosSim?: ArvadosSimulator;
  arvadosHost: string;
  arvadosToken: string;
  ec2Sim?: Ec2Simulator;
  /** Endpoint of the EC2 simulator (undefined with --aws). */
  ec2Endpoint?: string;
  /** serverless.yml's SQS queues, locally (undefined with --aws). */
  sqs?: LocalSqs;
  stop(): Promise<void>;
}

const localCredentials = { accessKeyId: "local", secretAccessKey: "local" };

async function listen(
  service: string,
  port: number | undefined,
  start: (port: number) => Promise<string>,
): Promise<string> {
  try {
    return await start(port ?? 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") throw new PortBusyError(service, port ?? 0);
    throw err;
  }
}

/**
 * Starts (or connects to) every service and creates the queue table (locally; with --aws the
 * deployed table named by QUEUE_TABLE_NAME is used). On failure, whatever was started is
 * stopped before the error is rethrown.
 */
export async function startServices(options: ServiceOptions): Promise<Services> {
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
  };
  try {
    const region = options.aws
      ? (options.env.AWS_REGION ?? options.env.AWS_DEFAULT_REGION ?? "us-east-1")
      : "us-east-1";

    let dynamodbEndpoint: string | undefined;
    if (!options.aws) {
      if (options.dynamodbEndpoint !== undefined) dynamodbEndpoint = options.dynamodbEndpoint;
      else {
        const local: DynamoDbLocal = await startDynamoDbLocal(
          options.dynamodbPort === undefined ? {} : { port: options.dynamodbPort },
        ).catch((err: unknown) => {
          // Its messages (Java missing, port busy) say what to do; say which service they are about.
          throw err instanceof DynamoDbLocalError ? new DynamoDbLocalError(`DynamoDB Local: ${err.message}`) : err;
        });
        stops.push(() => local.stop());
        dynamodbEndpoint = local.endpoint;
      }
    }
    const clientConfig =
      dynamodbEndpoint === undefined ? {} : { endpoint: dynamodbEndpoint, region, credentials: localCredentials };
    const ddb = new DynamoDBClient(clientConfig);
    const streams = new DynamoDBStreamsClient(clientConfig);
    stops.push(async () => {
      ddb.destroy();
      streams.destroy();
    });

    let tableName: string;
    let streamArn: string | undefined;
    if (options.aws) {
      tableName = options.env.QUEUE_TABLE_NAME ?? "";
      if (tableName === "")
        throw new RunnerSetupError("--aws needs QUEUE_TABLE_NAME: the deployed stack's queue table");
      streamArn = (await ddb.send(new DescribeTableCommand({ TableName: tableName }))).Table?.LatestStreamArn;
    } else {
      // Unique per run, so runs sharing one DynamoDB Local (tests) never see each other's items.
      tableName = `arvados-dispatch-${options.clusterId}-queue-${randomBytes(3).toString("hex")}`;
      streamArn = await ensureQueueTable(ddb, tableName);
    }
    if (streamArn === undefined) throw new RunnerSetupError(`table ${tableName} has no stream`);

    let arvadosSim: ArvadosSimulator | undefined;
    let arvadosHost: string;
    let arvadosToken: string;
    if (options.realArvados) {
      arvadosHost = options.env.ARVADOS_API_HOST ?? "";
      arvadosToken = options.env.ARVADOS_API_TOKEN ?? "";
      if (arvadosHost === "" || arvadosToken === "") {
        throw new RunnerSetupError("--arvados needs ARVADOS_API_HOST and ARVADOS_API_TOKEN in the environment");
      }
    } else {
      const sim = new ArvadosSimulator({ clusterId: options.clusterId });
      arvadosHost = await listen("Arvados simulator", options.arvadosPort, (port) => sim.start(port));
      stops.push(() => sim.stop());
      arvadosSim = sim;
      arvadosToken = sim.rootToken;
    }

    let ec2Sim: Ec2Simulator | undefined;
    let ec2Endpoint: string | undefined;
    if (!options.aws && options.withEc2) {
      const sim = new Ec2Simulator({
        pendingMs: options.ec2PendingMs,
        shuttingDownMs: options.ec2ShuttingDownMs,
        region,
        ...(options.ec2Throttle === undefined ? {} : { throttle: options.ec2Throttle }),
        ...(options.ec2ListingLagMs === undefined ? {} : { listingLagMs: options.ec2ListingLagMs }),
      });
      ec2Endpoint = await listen("EC2 simulator", options.ec2Port, (port) => sim.start(port));
      stops.push(() => sim.stop());
      ec2Sim = sim;
    }

    let sqs: LocalSqs | undefined;
    if (!options.aws) {
      const local = new LocalSqs(readServerlessSpec().queues, options.sqsChaos);
      await local.start();
      stops.push(() => local.stop());
      sqs = local;
    }

    return {
      clusterId: options.clusterId,
      region,
      ...(sqs === undefined ? {} : { sqs }),
      ...(dynamodbEndpoint === undefined ? {} : { dynamodbEndpoint }),
      ddb,
      streams,
      tableName,
      streamArn,
      ...(arvadosSim === undefined ? {} : { arvadosSim }),
      arvadosHost,
      arvadosToken,
      ...(ec2Sim === undefined ? {} : { ec2Sim }),
      ...(ec2Endpoint === undefined ? {} : { ec2Endpoint }),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * The instance set id upstream derives from a token (§4.1): the uuid of a `v2/<uuid>/<secret>`
 * token, else the token's MD5 in hex. Deployments set it (INSTANCE_SET_ID); locally the
 * dispatch API, which has no Arvados token to ask with, gets it from here.
 */
export function instanceSetIdForToken(token: string): string {
  const parts = token.split("/");
  return token.startsWith("v2/") && parts[1] !== undefined ? parts[1] : createHash("md5").update(token).digest("hex");
}

/**
 * The environment every function gets, as serverless.yml's provider.environment would give it
 * in AWS, pointed at the local services. Nothing else is inherited from the runner's
 * environment but PATH/HOME-like basics (and, with --aws, the AWS_* settings as they are).
 * dispatch-api gets the ManagementToken and the instance set id, and no Arvados token.
 */
export function functionEnvironment(
  services: Services,
  settings: {
    configPath: string;
    logLevel: string;
    aws: boolean;
    parentEnv: NodeJS.ProcessEnv;
    functionName: string;
    /** The ManagementToken the dispatch API accepts (none: it refuses every request, as upstream). */
    managementToken?: string;
    /** serverless.yml's environment variables of the function holding a queue's URL: name → queue logical id. */
    queueUrls?: Record<string, string>;
    /** The function's memorySize (MB); 512 unless given. */
    memoryMb?: number;
  },
): Record<string, string> {
  const env: Record<string, string> = {};
  // WORKER_MODE: the deployment's worker mode (lib/runtime/worker-mode.ts), as serverless.yml sets it.
  for (const key of ["PATH", "HOME", "TMPDIR", "LANG", "TZ", "WORKER_MODE"]) {
    const value = settings.parentEnv[key];
    if (value !== undefined) env[key] = value;
  }
  if (settings.aws) {
    for (const [key, value] of Object.entries(settings.parentEnv))
      if (key.startsWith("AWS_") && value !== undefined) env[key] = value;
  } else {
    env.AWS_REGION = services.region;
    env.AWS_ACCESS_KEY_ID = localCredentials.accessKeyId;
    env.AWS_SECRET_ACCESS_KEY = localCredentials.secretAccessKey;
    if (services.dynamodbEndpoint !== undefined) env.AWS_ENDPOINT_URL_DYNAMODB = services.dynamodbEndpoint;
    if (services.ec2Endpoint !== undefined) env.AWS_ENDPOINT_URL_EC2 = services.ec2Endpoint;
  }
  // `!Ref <Queue>` is the queue's URL: the local queue's, or with --aws the one the environment names.
  const sqs = services.sqs;
  for (const [variable, queue] of Object.entries(settings.queueUrls ?? {})) {
    const value = sqs === undefined ? settings.parentEnv[variable] : sqs.url(queue);
    if (value !== undefined) env[variable] = value;
  }
  if (sqs !== undefined && Object.keys(settings.queueUrls ?? {}).length > 0) env.AWS_ENDPOINT_URL_SQS = sqs.endpointUrl;
  // What the Lambda runtime sets (Powertools reads some of these: service name, cold start).
  env.AWS_LAMBDA_FUNCTION_NAME = settings.functionName;
  // The SDK's user agent then says which function sent a request (app/<name>): the cost bench's meter reads it.
  env.AWS_SDK_UA_APP_ID = settings.functionName;
  env.AWS_LAMBDA_FUNCTION_VERSION = "$LATEST";
  env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE = String(settings.memoryMb ?? 512);
  env.AWS_LAMBDA_INITIALIZATION_TYPE = "on-demand";
  env.QUEUE_TABLE_NAME = services.tableName;
  env.DISPATCH_CONFIG = settings.configPath;
  env.ARVADOS_CLUSTER_ID = services.clusterId;
  env.ARVADOS_API_HOST = services.arvadosHost;
  env.ARVADOS_API_TOKEN = services.arvadosToken;
  if (settings.parentEnv.ARVADOS_API_HOST_INSECURE !== undefined && services.arvadosSim === undefined) {
    env.ARVADOS_API_HOST_INSECURE = settings.parentEnv.ARVADOS_API_HOST_INSECURE;
  }
  for (const key of ["INSTANCE_SET_ID", "COMPUTE_INSTANCE_PROFILE"]) {
    const value = settings.parentEnv[key];
    if (value !== undefined && value !== "") env[key] = value;
  }
  // Named in the instances' user data (where crunch-run would read the token); never read here.
  env.ARVADOS_API_TOKEN_PARAMETER = settings.parentEnv.ARVADOS_API_TOKEN_PARAMETER ?? "/arvados/local/dispatch-token";
  if (settings.functionName === "dispatch-api") {
    delete env.ARVADOS_API_TOKEN;
    env.INSTANCE_SET_ID ??= instanceSetIdForToken(services.arvadosToken);
    if (settings.managementToken !== undefined) env.DISPATCH_MANAGEMENT_TOKEN = settings.managementToken;
  }
  env.LOG_LEVEL = settings.logLevel;
  // serverless.yml's runtime is nodejs22.x, where the AWS SDK has no Node version warning to log.
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  return env;
}
