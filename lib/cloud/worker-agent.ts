/**
 * The user data of a worker instance: the agent (worker-agent-script.ts) with its settings, then
 * the containers assigned by launch index (worker-channel.ts). One user data serves every
 * instance of one RunInstances call.
 */
import { maxUserDataBytes } from "./launch-user-data.js";
import { shellQuote, UserDataError } from "./user-data.js";
import { workerAgentBody } from "./worker-agent-script.js";
import {
  type Assignment,
  isImdsTagKey,
  orderTagInfix,
  userDataAssignments,
  WorkerChannelError,
} from "./worker-channel.js";

/** Upstream's defaults (§4.1 pool defaults) and our poll interval, in seconds. */
export const workerAgentDefaults = {
  /** CloudVMs.TimeoutIdle. */
  timeoutIdleSeconds: 60,
  /** CloudVMs.TimeoutTERM: how long kill signals are sent before the agent stops waiting. */
  timeoutTermSeconds: 120,
  /** How often the agent reads its orders; also its TimeoutSignal (upstream's is 5 s). */
  pollSeconds: 5,
} as const;

/** The line between the agent and its assignment lines: tells a worker's user data from other boot scripts. */
export const workerUserDataMarker = "# Containers by ami-launch-index (lib/cloud/worker-channel.ts):";

/** Everything the agent of a worker needs. No secret but the §4.1 instance secret goes in. */
export interface WorkerAgentArgs {
  /** §4.1 instance secret, written to /var/run/arvados-instance-secret. */
  instanceSecret: string;
  /** `CloudVMs.InstanceInitCommand`: the operator's own shell, inserted verbatim. */
  initCommand: string;
  /** SSM SecureString parameter holding the Arvados API token; read on the instance by its role. */
  tokenParameterName: string;
  /** AWS region of that parameter. */
  region: string;
  /** `ARVADOS_API_HOST` for crunch-run. */
  apiHost: string;
  /** Sets `ARVADOS_API_HOST_INSECURE=1` (§4.1 runner env). */
  apiHostInsecure?: boolean;
  /** `Containers.CrunchRunCommand`, one word (a path or a command name). */
  crunchRunCommand: string;
  /** `Containers.RuntimeEngine`. */
  runtimeEngine: string;
  /** `Containers.CrunchRunArgumentsList`. */
  crunchRunArgs?: readonly string[];
  /** §4.1 `InstanceType` env: the JSON of the Arvados instance type. */
  instanceTypeJson: string;
  /** §4.1 `EC2SpotCheck`: crunch-run watches for the spot interruption notice (preemptible types). */
  spotCheck?: boolean;
  /** `Containers.CloudVMs.TagKeyPrefix`: names the order tags and the IdleBehavior tag. */
  tagKeyPrefix: string;
  /** The first containers of each instance, by `ami-launch-index`. */
  assignments: readonly (readonly Assignment[])[];
  timeoutIdleSeconds?: number;
  timeoutTermSeconds?: number;
  /** A positive number; fractions need a `sleep` that takes them (GNU's and busybox's do). */
  pollSeconds?: number;
  /** Where the §4.1 instance secret is written; tests run the script elsewhere. */
  secretPath?: string;
  /** The agent's root-only state directory; tests run the script elsewhere. */
  stateDir?: string;
}

/** A WorkerUserDataTooLargeError is user data past EC2's 16 KB limit: too many assignments in one call. */
export class WorkerUserDataTooLargeError extends Error {
  override readonly name = "WorkerUserDataTooLargeError";
  constructor(
    readonly bytes: number,
    readonly limitBytes = maxUserDataBytes,
  ) {
    super(`worker user data: ${bytes} bytes, over EC2's limit of ${limitBytes} bytes (counted before base64)`);
  }
}

/**
 * The agent body without its comment lines: they explain the source and would take a third of
 * EC2's 16 KB, room that assignments need. (No line of the body's here-document starts with #.)
 */
const agentBodyWithoutComments = workerAgentBody
  .trim()
  .split("\n")
  .filter((line) => !/^\s*#/.test(line))
  .join("\n");

/** `case` pattern for a container uuid (lib/arvados/uuid.ts), so the agent checks what it reads. */
const uuidCasePattern = `${"[a-z0-9]".repeat(5)}-dz642-${"[a-z0-9]".repeat(15)}`;

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

function positiveSeconds(value: number, field: string): string {
  if (!(value > 0) || !Number.isFinite(value))
    throw new UserDataError(field, `must be a positive number of seconds, not ${value}`);
  return String(value);
}

/**
 * The user data of a worker: upstream's secret file and InstanceInitCommand (§4.1), then the
 * agent, then the assignment lines. Throws WorkerUserDataTooLargeError past EC2's limit (the
 * scheduler splits a batch before that), InvalidContainerUuidError, WorkerChannelError or
 * UserDataError for a value the script cannot carry.
 */
export function buildWorkerUserData(a: WorkerAgentArgs): string {
  const text = composeWorkerUserData(a);
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > maxUserDataBytes) throw new WorkerUserDataTooLargeError(bytes);
  return text;
}

/** The user data of `a`, whatever its size. */
function composeWorkerUserData(a: WorkerAgentArgs): string {
  const timeoutIdle = Math.ceil(a.timeoutIdleSeconds ?? workerAgentDefaults.timeoutIdleSeconds);
  const timeoutTerm = Math.ceil(a.timeoutTermSeconds ?? workerAgentDefaults.timeoutTermSeconds);
  const tagPrefix = `${a.tagKeyPrefix}${orderTagInfix}`;
  const idleBehaviorKey = `${a.tagKeyPrefix}IdleBehavior`;
  if (!isImdsTagKey(idleBehaviorKey))
    throw new WorkerChannelError("TagKeyPrefix", `${JSON.stringify(a.tagKeyPrefix)} makes tag keys IMDS cannot serve`);
  const command = shellQuote(a.crunchRunCommand, "crunchRunCommand");
  const runnerArgs = [
    shellQuote(`--runtime-engine=${a.runtimeEngine}`, "runtimeEngine"),
    ...(a.crunchRunArgs ?? []).map((arg) => shellQuote(arg, "crunchRunArgs")),
  ];
  const [json0, json1, json2] = stdinConfigPieces(a);
  const settings = [
    `state_dir=\${ARVADOS_AGENT_STATE_DIR:-${shellQuote(a.stateDir ?? "/var/run/arvados-agent", "stateDir")}}`,
    `poll_seconds=${positiveSeconds(a.pollSeconds ?? workerAgentDefaults.pollSeconds, "pollSeconds")}`,
    `timeout_idle=${positiveSeconds(timeoutIdle, "timeoutIdleSeconds")}`,
    `timeout_term=${positiveSeconds(timeoutTerm, "timeoutTermSeconds")}`,
    `tag_prefix=${shellQuote(tagPrefix, "tagKeyPrefix")}`,
    `idle_behavior_key=${shellQuote(idleBehaviorKey, "tagKeyPrefix")}`,
    `ssm_region=${shellQuote(a.region, "region")}`,
    `ssm_name=${shellQuote(a.tokenParameterName, "tokenParameterName")}`,
    `env_json_0=${shellQuote(json0)}`,
    `env_json_1=${shellQuote(json1)}`,
    `env_json_2=${shellQuote(json2)}`,
    // §4.1 remote commands: start with the runner args; --list and --kill without them, as upstream.
    // Go's flag package (crunch-run's) ends options at "--", so a uuid is never read as an option.
    `crunch_run_start() { ${command} --detach --stdin-config ${runnerArgs.join(" ")} -- "$1"; }`,
    `crunch_run_list() { ${command} --list; }`,
    `crunch_run_kill() { ${command} --kill 15 -- "$1"; }`,
    `is_uuid() { case $1 in ${uuidCasePattern}) return 0 ;; esac; return 1; }`,
  ];
  const script = [
    "#!/bin/sh",
    // §4.1: the secret file, readable by root only. A subshell keeps the umask from applying
    // to crunch-run; printf, unlike dash's echo, never interprets the value. Both paths can be
    // moved by the environment for local runs (whoever sets a root process's environment is root).
    `secret_path=\${ARVADOS_INSTANCE_SECRET_PATH:-${shellQuote(a.secretPath ?? "/var/run/arvados-instance-secret", "secretPath")}}`,
    `(umask 0177 && printf '%s' ${shellQuote(a.instanceSecret, "instanceSecret")} >"$secret_path")`,
    a.initCommand,
    ...settings,
    agentBodyWithoutComments,
    "exit 0",
    workerUserDataMarker,
  ].join("\n");
  return `${script}\n${userDataAssignments(a.assignments)}`;
}

/**
 * The bytes of user data left for assignment lines (`userDataAssignments`) after the agent and its
 * settings: a launch whose assignments take more must be split. Negative when the agent alone
 * does not fit (an InstanceInitCommand of many kilobytes).
 */
export function workerUserDataRoom(a: Omit<WorkerAgentArgs, "assignments">): number {
  return maxUserDataBytes - Buffer.byteLength(composeWorkerUserData({ ...a, assignments: [] }), "utf8");
}

/**
 * The §4.1 stdin JSON in three pieces, to be written around the instance's private address and
 * the token: `Env` (API host, ARVADOS_API_HOST_INSECURE when set, InstanceType, GatewayAddress as
 * `<address>:0`, ARVADOS_API_TOKEN), then `EC2SpotCheck` for a preemptible type. No
 * GatewayAuthSecret: it derives from SystemRootToken, which no instance may hold, and without
 * it crunch-run starts no gateway (it says so in its log). No Cluster and KeepBuffers: see
 * the keepstore note the agent logs.
 */
function stdinConfigPieces(a: WorkerAgentArgs): [string, string, string] {
  const ipMarker = "\u0001ip\u0001";
  const tokenMarker = "\u0001token\u0001";
  const env: Record<string, string> = { ARVADOS_API_HOST: a.apiHost };
  if (a.apiHostInsecure) env.ARVADOS_API_HOST_INSECURE = "1";
  env.InstanceType = a.instanceTypeJson;
  env.GatewayAddress = `${ipMarker}:0`;
  env.ARVADOS_API_TOKEN = tokenMarker;
  for (const k of Object.keys(env))
    if (!envName.test(k)) throw new UserDataError(`env.${k}`, "not a shell variable name");
  const json = JSON.stringify({ Env: env, ...(a.spotCheck ? { EC2SpotCheck: true } : {}) });
  const [json0 = "", rest = ""] = json.split(JSON.stringify(ipMarker).slice(1, -1));
  const [json1 = "", json2 = ""] = rest.split(JSON.stringify(tokenMarker).slice(1, -1));
  return [json0, json1, json2];
}
