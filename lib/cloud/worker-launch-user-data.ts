/**
 * The user data of one worker launch, composed from the config, the deployment and the launch
 * (the worker counterpart of launch-user-data.ts), and how many bytes of assignments a config
 * leaves room for, so a launch pass can split a batch before EC2 would refuse it.
 */
import type { ClusterConfig } from "../config/types.js";
import type { InstanceType } from "../model/instance-type.js";
import { type BootDeployment, canonicalJson, longestBootDeployment } from "./launch-user-data.js";
import { buildWorkerUserData, type WorkerAgentArgs, workerUserDataRoom } from "./worker-agent.js";
import type { Assignment } from "./worker-channel.js";

/**
 * The agent's timings, in seconds. The config loader does not read `CloudVMs.TimeoutIdle` and
 * `TimeoutTERM` yet (one container per instance has no use for them): absent, upstream's
 * defaults apply (worker-agent.ts `workerAgentDefaults`).
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

function agentArgs(config: ClusterConfig, deployment: BootDeployment, instanceType: InstanceType, instanceSecret: string, timings: WorkerTimings): Omit<WorkerAgentArgs, "assignments"> {
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
export function workerLaunchUserData(config: ClusterConfig, deployment: BootDeployment, launch: WorkerLaunchValues, timings: WorkerTimings = {}): string {
  return buildWorkerUserData({ ...agentArgs(config, deployment, launch.instanceType, launch.instanceSecret, timings), assignments: launch.assignments });
}

/**
 * The bytes every worker launch of `config` has for assignment lines, whatever its instance type
 * (the least over the types), with deployment values left out counted at their longest. Each
 * instance of a call takes a line (`#arvados-run <index>` and a newline) plus 29 bytes a
 * container (` <uuid>:<attempt>` with a one-digit attempt). Undefined without instance types.
 */
export function workerAssignmentRoom(config: ClusterConfig, deployment: Partial<BootDeployment> = {}, timings: WorkerTimings = {}): number | undefined {
  const full: BootDeployment = { ...longestBootDeployment, ...Object.fromEntries(Object.entries(deployment).filter(([, v]) => v !== undefined)) };
  let least: number | undefined;
  for (const instanceType of Object.values(config.InstanceTypes)) {
    const room = workerUserDataRoom(agentArgs(config, full, instanceType, "f".repeat(40), timings));
    if (least === undefined || room < least) least = room;
  }
  return least;
}
