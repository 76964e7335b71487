/**
 * The user data of one worker launch, composed from the config, the deployment and the launch
 * (the worker counterpart of launch-user-data.ts), and how many bytes of assignments a config
 * leaves room for, so a launch pass can split a batch before EC2 would refuse it.
 */
import { ConfigError, type ConfigIssue, formatPath } from "../config/errors.js";
import type { ClusterConfig } from "../config/types.js";
import type { InstanceType } from "../model/instance-type.js";
import { type BootDeployment, canonicalJson, longestBootDeployment, maxUserDataBytes } from "./launch-user-data.js";
import { buildWorkerUserData, type WorkerAgentArgs, workerUserDataRoom } from "./worker-agent.js";
import { type Assignment, isImdsTagKey } from "./worker-channel.js";

/**
 * The agent's timings, in seconds: `CloudVMs.TimeoutIdle` from the config (the launch passes
 * it); `TimeoutTERM` is not read by the config loader yet. Absent, upstream's defaults apply
 * (worker-agent.ts `workerAgentDefaults`).
 */
export type WorkerTimings = Pick<WorkerAgentArgs, "timeoutIdleSeconds" | "timeoutTermSeconds" | "pollSeconds">;

/** What varies from one worker launch to the next. */
export interface WorkerLaunchValues {
  instanceType: InstanceType;
  /** §4.1 instance secret; shared by every instance of one RunInstances call. */
  instanceSecret: string;
  /** The first containers of each instance of the call, by `ami-launch-index`. */
  assignments: readonly (readonly Assignment[])[];
}

function agentArgs(
  config: ClusterConfig,
  deployment: BootDeployment,
  instanceType: InstanceType,
  instanceSecret: string,
  timings: WorkerTimings,
): Omit<WorkerAgentArgs, "assignments"> {
  const { Containers } = config;
  return {
    instanceSecret,
    initCommand: Containers.CloudVMs.InstanceInitCommand,
    tokenParameterName: deployment.tokenParameterName,
    region: deployment.region,
    apiHost: deployment.apiHost,
    ...(deployment.apiHostInsecure ? { apiHostInsecure: true } : {}),
    crunchRunCommand: Containers.CrunchRunCommand,
    runtimeEngine: Containers.RuntimeEngine,
    crunchRunArgs: Containers.CrunchRunArgumentsList,
    // Sorted keys, as for one-container launches: a repeated call sends byte-identical user data.
    instanceTypeJson: canonicalJson(instanceType),
    spotCheck: instanceType.Preemptible,
    tagKeyPrefix: Containers.CloudVMs.TagKeyPrefix,
    ...timings,
  };
}

/**
 * The user data of one worker launch, exactly as RunInstances sends it (before base64). Throws
 * WorkerUserDataTooLargeError when the assignments do not fit (see `workerAssignmentRoom`),
 * InvalidContainerUuidError, WorkerChannelError or UserDataError for a value it cannot carry.
 */
export function workerLaunchUserData(
  config: ClusterConfig,
  deployment: BootDeployment,
  launch: WorkerLaunchValues,
  timings: WorkerTimings = {},
): string {
  return buildWorkerUserData({
    ...agentArgs(config, deployment, launch.instanceType, launch.instanceSecret, timings),
    assignments: launch.assignments,
  });
}

/**
 * The bytes every worker launch of `config` has for assignment lines, whatever its instance type
 * (the least over the types), with deployment values left out counted at their longest. Each
 * instance of a call takes a line (`#arvados-run <index>` and a newline) plus 29 bytes a
 * container (` <uuid>:<attempt>` with a one-digit attempt). Undefined without instance types.
 */
export function workerAssignmentRoom(
  config: ClusterConfig,
  deployment: Partial<BootDeployment> = {},
  timings: WorkerTimings = {},
): number | undefined {
  const full: BootDeployment = {
    ...longestBootDeployment,
    ...Object.fromEntries(Object.entries(deployment).filter(([, v]) => v !== undefined)),
  };
  let least: number | undefined;
  for (const instanceType of Object.values(config.InstanceTypes)) {
    const room = workerUserDataRoom(agentArgs(config, full, instanceType, "f".repeat(40), timings));
    if (least === undefined || room < least) least = room;
  }
  return least;
}

/**
 * Refuses a config workers cannot be launched with (ConfigError naming the keys): with tags in
 * IMDS, which the agent needs for its orders, every tag key of an instance may hold only
 * letters, digits and `+ - = . , _ : @` (EC2 refuses the launch otherwise), so `ResourceTags`
 * keys and `TagKeyPrefix` must; and the agent must leave user data room for at least one
 * container. Deployment values left out are counted at their longest. Call it where the config is
 * loaded once launches build worker user data (it would refuse today's configs with spaces in
 * ResourceTags keys, which one-container launches accept).
 */
export function checkWorkerLaunchConfig(
  config: ClusterConfig,
  deployment: Partial<BootDeployment> = {},
  source?: string,
): void {
  const issues: ConfigIssue[] = [];
  for (const key of Object.keys(config.Containers.CloudVMs.ResourceTags)) {
    if (!isImdsTagKey(key))
      issues.push({ path: formatPath(["Containers", "CloudVMs", "ResourceTags", key]), message: imdsKeyRule });
  }
  const prefix = config.Containers.CloudVMs.TagKeyPrefix;
  if (!isImdsTagKey(`${prefix}InstanceSetID`))
    issues.push({ path: "Containers.CloudVMs.TagKeyPrefix", message: imdsKeyRule });
  if (issues.length === 0) {
    const room = workerAssignmentRoom(config, deployment);
    const oneContainer = `#arvados-run 0 ${config.ClusterID || "zzzzz"}-dz642-${"z".repeat(15)}:1\n`.length;
    if (room !== undefined && room < oneContainer) {
      issues.push({
        path: "Containers.CloudVMs.InstanceInitCommand",
        message: `the worker agent's user data leaves ${room} bytes of EC2's ${maxUserDataBytes} for assignments, fewer than one container needs (${oneContainer})`,
      });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues, source);
}

const imdsKeyRule =
  "an instance tag key must hold only letters, digits and + - = . , _ : @ when instance tags are in IMDS (the worker agent reads its orders there)";
