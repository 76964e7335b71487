import { createHash } from "node:crypto";
import type { EC2Client } from "@aws-sdk/client-ec2";
import { type CloudInstance, createTags, listInstances } from "./instances.js";
import { instanceSecretLength, launchUserData } from "./launch-user-data.js";
import { launchInstance } from "./launch.js";
import { terminateInstances } from "./instances.js";
import { instanceTagKeys } from "./tags.js";
import type { ClusterConfig } from "../config/types.js";
import { IdleBehavior, type InstanceState, type InstanceView, isIdleBehavior } from "../model/instance.js";
import type {
  InstanceCloud,
  LaunchedInstance,
  LaunchedWorkers,
  LaunchRequest,
  WorkerCloud,
  WorkerLaunchRequest,
} from "../model/instance-cloud.js";
import { buildOrderTagsInput } from "./worker-channel.js";
import { workerLaunchUserData } from "./worker-launch-user-data.js";
import { batchKey } from "../model/worker-batch.js";
import { launchWorkers } from "./worker-run-instances.js";
import { CreateTagsCommand } from "@aws-sdk/client-ec2";
import { classifyEc2Error } from "./classify.js";

/** How the launcher reaches EC2 and what each instance needs to boot its container. */
export interface Ec2InstanceCloudOptions {
  ec2: EC2Client;
  config: ClusterConfig;
  /** Tags our instances (§4.1 InstanceSetID): the token's uuid unless configured. */
  instanceSetId: string;
  /** SSM SecureString holding the token, read on the instance by its role. */
  tokenParameterName: string;
  region: string;
  apiHost: string;
  apiHostInsecure?: boolean;
  /** Instance profile of the compute role; overrides DriverParameters.IAMInstanceProfile. */
  instanceProfile?: string;
}

/**
 * The §4.1 instance secret for one launch try. Upstream draws it at random; here a retried
 * invocation must send byte-identical RunInstances parameters for its ClientToken to be
 * honoured, so it is derived from what identifies the try. It is an identity marker for the
 * instance, not a credential: nothing authenticates with it.
 */
export function instanceSecretFor(
  instanceSetId: string,
  request: Pick<LaunchRequest, "containerUuid" | "lockCount">,
): string {
  return createHash("sha256")
    .update(`${instanceSetId}\u0000${request.containerUuid}\u0000${request.lockCount}`)
    .digest("hex")
    .slice(0, instanceSecretLength);
}

function toView(instance: CloudInstance, idleBehaviorTag: string): InstanceView {
  const tagged = instance.tags[idleBehaviorTag];
  return {
    instanceId: instance.instanceId,
    instanceType: instance.instanceType ?? "",
    state: instance.state as InstanceState,
    launchTime: instance.launchTime ?? new Date(0).toISOString(),
    ...(instance.containerUuid === undefined ? {} : { containerUuid: instance.containerUuid }),
    ...(instance.subnetId === undefined ? {} : { subnetId: instance.subnetId }),
    ...(instance.worker ? { worker: true } : {}),
    // Upstream: an unrecognised IdleBehavior tag counts as "run".
    idleBehavior: isIdleBehavior(tagged) ? tagged : IdleBehavior.run,
    providerType: instance.providerType,
    ...(instance.privateIp === undefined ? {} : { address: instance.privateIp }),
  };
}

/** The InstanceCloud the launch and cleanup functions use in AWS (and against the EC2 simulator). */
export class Ec2InstanceCloud implements InstanceCloud, WorkerCloud {
  constructor(private readonly options: Ec2InstanceCloudOptions) {}

  async launch(request: LaunchRequest): Promise<LaunchedInstance> {
    const { config, instanceSetId } = this.options;
    const cloudVMs = config.Containers.CloudVMs;
    const instanceSecret = instanceSecretFor(instanceSetId, request);
    const userData = launchUserData(
      config,
      {
        apiHost: this.options.apiHost,
        apiHostInsecure: this.options.apiHostInsecure === true,
        tokenParameterName: this.options.tokenParameterName,
        region: this.options.region,
      },
      { containerUuid: request.containerUuid, instanceType: request.instanceType, instanceSecret },
    );
    const profile = this.options.instanceProfile;
    const launchConfig = {
      ...cloudVMs,
      DriverParameters: {
        ...cloudVMs.DriverParameters,
        ...(profile === undefined || profile === "" ? {} : { IAMInstanceProfile: profile }),
      },
    };
    const result = await launchInstance(
      this.options.ec2,
      {
        instanceType: request.instanceType,
        config: launchConfig,
        instanceSetId,
        containerUuid: request.containerUuid,
        attempt: request.lockCount,
        userData,
        instanceSecret,
      },
      { subnetIndex: request.subnetIndex, throttleDelayMs: request.throttleDelayMs },
      {
        ...(request.repeat === undefined ? {} : { repeat: request.repeat }),
        ...(request.beforeCall === undefined ? {} : { beforeCall: request.beforeCall }),
        ...(request.onAttempt === undefined ? {} : { onAttempt: request.onAttempt }),
      },
    );
    return {
      instanceId: result.instanceId,
      ...(result.subnetId === undefined ? {} : { subnetId: result.subnetId }),
      nextSubnetIndex: result.nextSubnetIndex,
    };
  }

  /**
   * Starts the workers of one batch with one RunInstances (lib/cloud/worker-run-instances.ts):
   * the agent as user data, each container's line at its launch index. The instance secret is
   * derived from the batch (shared by its instances), so a repeat sends identical parameters.
   */
  async launchWorkers(request: WorkerLaunchRequest): Promise<LaunchedWorkers> {
    const { config, instanceSetId } = this.options;
    const cloudVMs = config.Containers.CloudVMs;
    const instanceSecret = createHash("sha256")
      .update(`${instanceSetId}\u0000worker\u0000${batchKey(request.batch).join(" ")}`)
      .digest("hex")
      .slice(0, instanceSecretLength);
    const userData = workerLaunchUserData(
      config,
      {
        apiHost: this.options.apiHost,
        apiHostInsecure: this.options.apiHostInsecure === true,
        tokenParameterName: this.options.tokenParameterName,
        region: this.options.region,
      },
      { instanceType: request.instanceType, instanceSecret, assignments: request.batch },
    );
    const profile = this.options.instanceProfile;
    const launchConfig = {
      ...cloudVMs,
      DriverParameters: {
        ...cloudVMs.DriverParameters,
        ...(profile === undefined || profile === "" ? {} : { IAMInstanceProfile: profile }),
      },
    };
    const result = await launchWorkers(
      this.options.ec2,
      {
        instanceType: request.instanceType,
        config: launchConfig,
        instanceSetId,
        batch: request.batch,
        userData,
        instanceSecret,
      },
      { subnetIndex: request.subnetIndex, throttleDelayMs: request.throttleDelayMs },
      {
        ...(request.repeat === undefined ? {} : { repeat: request.repeat }),
        ...(request.beforeCall === undefined ? {} : { beforeCall: request.beforeCall }),
        ...(request.onAttempt === undefined ? {} : { onAttempt: request.onAttempt }),
      },
    );
    return {
      instances: result.instances,
      ...(result.subnetId === undefined ? {} : { subnetId: result.subnetId }),
      clientToken: result.clientToken,
      nextSubnetIndex: result.nextSubnetIndex,
    };
  }

  /** Orders containers on an existing worker: one CreateTags with one order tag each (the channel). */
  async assign(instanceId: string, orders: readonly { containerUuid: string; attempt: number }[]): Promise<void> {
    await this.order(instanceId, orders, "run");
  }

  /** Stops containers on a worker: one CreateTags with a kill order each (the channel). */
  async kill(instanceId: string, orders: readonly { containerUuid: string; attempt: number }[]): Promise<void> {
    await this.order(instanceId, orders, "kill");
  }

  private async order(
    instanceId: string,
    orders: readonly { containerUuid: string; attempt: number }[],
    action: "run" | "kill",
  ): Promise<void> {
    const input = buildOrderTagsInput(
      this.options.config.Containers.CloudVMs.TagKeyPrefix,
      instanceId,
      orders.map((o) => ({ ...o, action })),
    );
    try {
      await this.options.ec2.send(new CreateTagsCommand(input));
    } catch (err) {
      throw classifyEc2Error(err, { throttleDelayMs: 0, now: new Date() });
    }
  }

  async list(): Promise<InstanceView[]> {
    const tagKeyPrefix = this.options.config.Containers.CloudVMs.TagKeyPrefix;
    const instances = await listInstances(this.options.ec2, {
      tagKeyPrefix,
      instanceSetId: this.options.instanceSetId,
    });
    const idleBehaviorTag = instanceTagKeys(tagKeyPrefix).idleBehavior;
    return instances.map((i) => toView(i, idleBehaviorTag));
  }

  /**
   * Sets an instance's `<TagKeyPrefix>IdleBehavior` tag (upstream saveTags): cleanup reads it
   * on its next pass. Rejects with a classified error (an unknown id: InvalidInstanceID.NotFound).
   */
  async setIdleBehavior(instanceId: string, behavior: IdleBehavior): Promise<void> {
    const key = instanceTagKeys(this.options.config.Containers.CloudVMs.TagKeyPrefix).idleBehavior;
    await createTags(this.options.ec2, [instanceId], { [key]: behavior });
  }

  async terminate(instanceIds: readonly string[]): Promise<void> {
    if (instanceIds.length > 0) await terminateInstances(this.options.ec2, [...instanceIds]);
  }
}
