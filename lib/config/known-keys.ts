/**
 * The keys upstream defines (`lib/config/config.default.yml` at the reference snapshot, plus
 * the deprecated keys `lib/config/deprecated.go` still reads) in the sections this dispatcher
 * reads. A key listed here that the schema does not use is accepted and reported as ignored;
 * a key in none of these lists is a typo and fails the load.
 */

/**
 * Top-level keys of a whole config file: the fields of upstream's `arvados.Config`. Besides
 * `Clusters`, config.default.yml sets `AutoReloadConfig`, and `arvados-server config-dump`
 * writes `SourceTimestamp` and `SourceSHA256`, which the loader decodes like any other field.
 */
export const upstreamTopLevelKeys: readonly string[] = [
  "Clusters",
  "AutoReloadConfig",
  "SourceTimestamp",
  "SourceSHA256",
];

/** Top-level keys of a cluster section (`Clusters.<id>`). */
export const upstreamClusterKeys: readonly string[] = [
  "SystemRootToken",
  "ManagementToken",
  "Services",
  "PostgreSQL",
  "API",
  "Users",
  "AuditLogs",
  "SystemLogs",
  "Collections",
  "Login",
  "TLS",
  "Containers",
  "InstanceTypes",
  "StorageClasses",
  "Volumes",
  "RemoteClusters",
  "Workbench",
  // deprecated.go
  "RequestLimits",
  "NodeProfiles",
  "Mail",
];

/** `Containers` (§6.1). */
export const upstreamContainersKeys: readonly string[] = [
  "SupportedDockerImageFormats",
  "LogReuseDecisions",
  "DefaultKeepCacheRAM",
  "MaxDispatchAttempts",
  "MaxRetryAttempts",
  "AlwaysUsePreemptibleInstances",
  "PreemptiblePriceFactor",
  "MaximumPriceFactor",
  "DispatchPrivateKey",
  "StaleLockTimeout",
  "CrunchRunCommand",
  "CrunchRunArgumentsList",
  "ReserveExtraRAM",
  "MinRetryPeriod",
  "RuntimeEngine",
  "LocalKeepBlobBuffersPerVCPU",
  "LocalKeepLogsToContainerLog",
  "Logging",
  "ShellAccess",
  "SLURM",
  "LSF",
  "CloudVMs",
];

/** `Containers.CloudVMs` (§6.2). */
export const upstreamCloudVMsKeys: readonly string[] = [
  "Enable",
  "SSHPort",
  "PollInterval",
  "BootProbeCommand",
  "ProbeInterval",
  "MaxProbesPerSecond",
  "TimeoutSignal",
  "TimeoutStaleRunLock",
  "TimeoutTERM",
  "MaxCloudOpsPerSecond",
  "MaxConcurrentInstanceCreateOps",
  "MaxInstances",
  "MaxRunningContainersPerInstance",
  "InitialQuotaEstimate",
  "SupervisorFraction",
  "SyncInterval",
  "TimeoutIdle",
  "TimeoutBooting",
  "TimeoutProbe",
  "TimeoutShutdown",
  "ImageID",
  "InstanceInitCommand",
  "DeployRunnerBinary",
  "DeployRunnerDirectory",
  "DeployPublicKey",
  "ResourceTags",
  "TagKeyPrefix",
  "Driver",
  "DriverParameters",
];

/** `Containers.CloudVMs.DriverParameters`: the ec2 keys (§4.3) and the azure ones the same default file lists. */
export const upstreamDriverParametersKeys: readonly string[] = [
  // ec2 (lib/cloud/ec2/ec2.go ec2InstanceSetConfig)
  "AccessKeyID",
  "SecretAccessKey",
  "Region",
  "SecurityGroupIDs",
  "SubnetID",
  "EBSVolumeType",
  "IAMInstanceProfile",
  "SpotPriceUpdateInterval",
  "EBSPrice",
  "InstanceTypeQuotaGroups",
  "AdminUsername",
  // azure
  "SubscriptionID",
  "ClientID",
  "ClientSecret",
  "TenantID",
  "CloudEnvironment",
  "Location",
  "ResourceGroup",
  "NetworkResourceGroup",
  "Network",
  "Subnet",
  "ImageResourceGroup",
  "SharedImageGalleryName",
  "SharedImageGalleryImageVersion",
  "StorageAccount",
  "BlobContainer",
  "DeleteDanglingResourcesAfter",
];

/** One `InstanceTypes.<name>` entry (§6.3). `Scratch` is handled apart: computed, so a configured one is ignored with a warning. */
export const upstreamInstanceTypeKeys: readonly string[] = [
  "ProviderType",
  "VCPUs",
  "RAM",
  "IncludedScratch",
  "AddedScratch",
  "Price",
  "Preemptible",
  "GPU",
];

/** `InstanceTypes.<name>.GPU`. */
export const upstreamGPUKeys: readonly string[] = ["Stack", "DriverVersion", "HardwareTarget", "DeviceCount", "VRAM"];
