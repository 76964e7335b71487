import type { QueuedContainer } from "../../lib/model/container.js";
import { priorityEpochMs, containerPriority as simContainerPriority } from "../../local/arvados-sim/priority.js";
import type { RunInstancesArgs } from "../../lib/cloud/run-instances-input.js";
import type { Ec2DriverParameters } from "../../lib/config/types.js";
import type { InstanceType } from "../../lib/model/instance-type.js";
import type { QueueEntry } from "../../lib/model/entry.js";

/** The i-th container uuid of the test cluster, as upstream's fixtures number them. */
export function containerUuid(i: number): string {
  return `zzzzz-dz642-${String(i).padStart(15, "0")}`;
}

/**
 * A container's priority as the API server computes it for a container request created at
 * `createdAt` (§5.6, the simulator's rule): request priority × 2^50 − ms. 500 gives ~5.6e17.
 */
export function containerPriority(requestPriority: number, createdAt: string): bigint {
  return simContainerPriority(requestPriority, priorityEpochMs(createdAt));
}

/** The i-th creation time: i seconds into 2026, with the microseconds the API server renders. */
export function createdAt(i: number): string {
  const micros = String((i * 7919) % 1_000_000).padStart(6, "0");
  return `${new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString().slice(0, 19)}.${micros}000Z`;
}

/** A container as the queue caches it, with upstream's defaults and real magnitudes; override any field. */
export function queuedContainer(i: number, overrides: Partial<QueuedContainer> = {}): QueuedContainer {
  const created = createdAt(i);
  return {
    uuid: containerUuid(i),
    state: "Queued",
    priority: containerPriority(500, created),
    runtime_constraints: {
      ram: 1 << 30,
      vcpus: 1,
      keep_cache_ram: 0,
      keep_cache_disk: 0,
      gpu: { stack: "", driver_version: "", hardware_target: [], device_count: 0, vram: 0 },
    },
    container_image: "d41d8cd98f00b204e9800998ecf8427e+0",
    scheduling_parameters: { partitions: [], preemptible: false, max_run_time: 0, supervisor: false },
    created_at: created,
    ...overrides,
  };
}

/** A cache entry for `queuedContainer(i)`. */
export function queueEntry(
  i: number,
  container: Partial<QueuedContainer> = {},
  overrides: Partial<QueueEntry> = {},
): QueueEntry {
  return {
    container: queuedContainer(i, container),
    firstSeenAt: "2026-01-01T00:00:00.000Z",
    version: 1,
    ...overrides,
  };
}

/** The i-th instance type, as upstream's test.InstanceType(i): bigger and dearer as i grows. */
export function instanceType(i: number, overrides: Partial<InstanceType> = {}): InstanceType {
  return {
    Name: `type${i}`,
    ProviderType: `providertype${i}`,
    VCPUs: i,
    RAM: i * 2 ** 30,
    Scratch: i * 10 * 2 ** 30,
    IncludedScratch: i * 10 * 2 ** 30,
    AddedScratch: 0,
    Price: i * 0.123,
    Preemptible: false,
    GPU: { Stack: "", DriverVersion: "", HardwareTarget: "", DeviceCount: 0, VRAM: 0 },
    ...overrides,
  };
}

/** The EC2 driver parameters of the test cluster; override any field. */
export function ec2Driver(overrides: Partial<Ec2DriverParameters> = {}): Ec2DriverParameters {
  return {
    Region: "us-east-1",
    SecurityGroupIDs: ["sg-1"],
    SubnetID: [],
    AdminUsername: "crunch",
    EBSVolumeType: "gp3",
    IAMInstanceProfile: "",
    InstanceTypeQuotaGroups: {},
    ...overrides,
  };
}

/** What lib/cloud needs to launch container 1 on an m5.xlarge; override any field. */
export function runInstancesArgs(overrides: Partial<RunInstancesArgs> = {}): RunInstancesArgs {
  return {
    instanceType: instanceType(1, { ProviderType: "m5.xlarge" }),
    config: { ImageID: "ami-0123", TagKeyPrefix: "Arvados", ResourceTags: {}, DriverParameters: ec2Driver() },
    instanceSetId: "zzzzz-gj3su-000000000000000",
    containerUuid: containerUuid(1),
    attempt: 1,
    userData: "#!/bin/sh\n",
    instanceSecret: "0123456789abcdef",
    ...overrides,
  };
}
