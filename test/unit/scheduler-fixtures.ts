import type { ContainerState } from "../../lib/model/container.js";
import type { ClusterConfig, CloudVMsConfig } from "../../lib/config/types.js";
import type { LaunchIntent, LaunchRecord, QueueEntry } from "../../lib/model/entry.js";
import type { InstanceView } from "../../lib/model/instance.js";
import { containerUuid, instanceType, queueEntry } from "../support/fixtures.js";

export { containerUuid, instanceType };

/** The fixed "now" of every scheduler test: 2026-01-01T01:00:00Z. */
export const NOW = Date.parse("2026-01-01T01:00:00.000Z");
export const MINUTE = 60_000;

/** ISO time `ms` milliseconds relative to NOW (negative = earlier). */
export function at(ms: number): string {
  return new Date(NOW + ms).toISOString();
}

/** A cluster config with upstream defaults (§6) and the given CloudVMs overrides. */
export function clusterConfig(cloudVMs: Partial<CloudVMsConfig> = {}): ClusterConfig {
  return {
    ClusterID: "zzzzz",
    InstanceTypes: Object.fromEntries([1, 2, 3].map((i) => [`type${i}`, instanceType(i)])),
    Containers: {
      MaxDispatchAttempts: 10,
      MaxRetryAttempts: 3,
      MaximumPriceFactor: 1.5,
      ReserveExtraRAM: 550 * 2 ** 20,
      LocalKeepBlobBuffersPerVCPU: 1,
      PreemptiblePriceFactor: 0,
      AlwaysUsePreemptibleInstances: false,
      CrunchRunCommand: "crunch-run",
      CrunchRunArgumentsList: [],
      RuntimeEngine: "docker",
      CloudVMs: {
        Enable: true,
        PollInterval: 10_000,
        MaxInstances: 64,
        InitialQuotaEstimate: 0,
        SupervisorFraction: 0.5,
        TimeoutBooting: 10 * MINUTE,
        ImageID: "ami-0",
        InstanceInitCommand: "",
        ResourceTags: {},
        TagKeyPrefix: "Arvados",
        Driver: "ec2",
        DriverParameters: {
          Region: "us-east-1",
          SecurityGroupIDs: [],
          SubnetID: [],
          AdminUsername: "crunch",
          EBSVolumeType: "gp2",
          IAMInstanceProfile: "",
          InstanceTypeQuotaGroups: { a: "standard", c: "standard", m: "standard", vt: "g", p5: "p5" },
        },
        ...cloudVMs,
      },
    },
  };
}

/** What an entry fixture may set. Defaults: Queued, a real int64 priority (§5.6), types [type1, type2], first seen an hour ago. */
export interface EntrySpec {
  state?: ContainerState;
  priority?: bigint;
  /** Instance types by fixture index; [] = not chosen yet. */
  types?: number[];
  supervisor?: boolean;
  firstSeenAt?: string;
  localChangeAt?: string;
  launch?: LaunchRecord;
  launchIntent?: LaunchIntent;
}

/** A queue entry for container i. */
export function entry(i: number, spec: EntrySpec = {}): QueueEntry {
  const types = spec.types ?? [1, 2];
  const e = queueEntry(
    i,
    {
      state: spec.state ?? "Queued",
      ...(spec.priority === undefined ? {} : { priority: spec.priority }),
      scheduling_parameters: {
        partitions: [],
        preemptible: false,
        max_run_time: 0,
        supervisor: spec.supervisor ?? false,
      },
    },
    { firstSeenAt: spec.firstSeenAt ?? at(-60 * MINUTE) },
  );
  if (types.length > 0) e.instanceTypes = types.map((t) => instanceType(t).Name);
  if (spec.localChangeAt !== undefined) e.localChangeAt = spec.localChangeAt;
  if (spec.launch !== undefined) e.launch = spec.launch;
  if (spec.launchIntent !== undefined) e.launchIntent = spec.launchIntent;
  return e;
}

/** The i-th instance id. */
export function instanceId(i: number): string {
  return `i-${String(i).padStart(17, "0")}`;
}

/** A launch record for instance i, launched `launchedAt` (default 5 minutes ago). */
export function launchRecord(i: number, launchedAt: string = at(-5 * MINUTE)): LaunchRecord {
  return { instanceId: instanceId(i), instanceType: "type1", attempt: 1, launchedAt };
}

/** The launch intent of a call of type `typeName` for lock_count 1, written `writtenAt` (default a minute ago). */
export function launchIntent(typeName = "type1", writtenAt: string = at(-MINUTE)): LaunchIntent {
  return { attempt: 1, instanceType: typeName, subnetId: "subnet-a", clientToken: `token-${typeName}`, writtenAt };
}

/** Instance i of our instance set, running container `container` (an index) unless overridden. */
export function instance(i: number, overrides: Partial<InstanceView> & { container?: number } = {}): InstanceView {
  const { container, ...rest } = overrides;
  const view: InstanceView = {
    instanceId: instanceId(i),
    instanceType: "type1",
    state: "running",
    launchTime: at(-5 * MINUTE),
    ...rest,
  };
  if (container !== undefined) view.containerUuid = containerUuid(container);
  return view;
}
