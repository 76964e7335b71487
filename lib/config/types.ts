import type { InstanceType } from "../model/instance-type.js";

/**
 * The resolved dispatcher configuration: the cluster section of an Arvados `config.yml`
 * (§6) after units are parsed and upstream defaults applied. Byte sizes are numbers of bytes,
 * durations are milliseconds, so no caller ever parses a unit again.
 */

/** `Containers.CloudVMs.DriverParameters` for the ec2 driver (§4.3). */
export interface Ec2DriverParameters {
  Region: string;
  SecurityGroupIDs: string[];
  /** "" → [], "x" → ["x"], a list stays a list (upstream sliceOrSingleString). */
  SubnetID: string[];
  AdminUsername: string;
  EBSVolumeType: string;
  IAMInstanceProfile: string;
  InstanceTypeQuotaGroups: Record<string, string>;
}

/** `Containers.CloudVMs` (§6.2): the keys this dispatcher uses. */
export interface CloudVMsConfig {
  Enable: boolean;
  PollInterval: number;
  MaxInstances: number;
  InitialQuotaEstimate: number;
  SupervisorFraction: number;
  TimeoutBooting: number;
  /** Pool mode: ms an idle worker lives (§6.2 default 1m). Optional for configs built in code. */
  TimeoutIdle?: number;
  /** Pool mode: ms the agent keeps signalling a container it was told to kill (§6.2 default 2m). */
  TimeoutTERM?: number;
  /** Pool mode: containers per worker at most; 0 = unlimited (§6.2). */
  MaxRunningContainersPerInstance?: number;
  ImageID: string;
  InstanceInitCommand: string;
  ResourceTags: Record<string, string>;
  TagKeyPrefix: string;
  Driver: string;
  DriverParameters: Ec2DriverParameters;
}

/** `Containers` (§6.1): the keys this dispatcher uses. */
export interface ContainersConfig {
  MaxDispatchAttempts: number;
  MaxRetryAttempts: number;
  MaximumPriceFactor: number;
  ReserveExtraRAM: number;
  LocalKeepBlobBuffersPerVCPU: number;
  PreemptiblePriceFactor: number;
  AlwaysUsePreemptibleInstances: boolean;
  CrunchRunCommand: string;
  CrunchRunArgumentsList: string[];
  RuntimeEngine: string;
  CloudVMs: CloudVMsConfig;
}

/** A whole dispatcher configuration for one cluster. */
export interface ClusterConfig {
  /** The cluster id (`Clusters.<id>`), or "" when the file holds a bare cluster section. */
  ClusterID: string;
  Containers: ContainersConfig;
  InstanceTypes: Record<string, InstanceType>;
}
