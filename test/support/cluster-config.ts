import { parseClusterConfig } from "../../lib/config/load.js";
import type { ClusterConfig } from "../../lib/config/types.js";

/**
 * A small cluster config for integration tests, as an operator would write it: three on-demand
 * types of rising price, one spot type and one GPU type, two subnets. `extra` is YAML inserted
 * under CloudVMs (e.g. "MaxInstances: 2").
 */
export function testClusterConfigYaml(cloudVMsExtra = ""): string {
  const extra = cloudVMsExtra
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => `        ${l}`)
    .join("\n");
  return `Clusters:
  zzzzz:
    Containers:
      ReserveExtraRAM: 256MiB
      LocalKeepBlobBuffersPerVCPU: 0
      CloudVMs:
        PollInterval: 1s
        ImageID: ami-00000000000000001
        TagKeyPrefix: Arvados
        DriverParameters:
          SubnetID: [subnet-a, subnet-b]
          SecurityGroupIDs: [sg-1]
${extra}
    InstanceTypes:
      small:
        ProviderType: m5.large
        VCPUs: 2
        RAM: 8GiB
        AddedScratch: 50GiB
        Price: 0.1
      medium:
        ProviderType: m5.xlarge
        VCPUs: 4
        RAM: 16GiB
        AddedScratch: 50GiB
        Price: 0.14
      large:
        ProviderType: m5.2xlarge
        VCPUs: 8
        RAM: 32GiB
        AddedScratch: 50GiB
        Price: 0.4
      small.spot:
        ProviderType: m5.large
        VCPUs: 2
        RAM: 8GiB
        AddedScratch: 50GiB
        Price: 0.05
        Preemptible: true
      gpu:
        ProviderType: g4dn.xlarge
        VCPUs: 4
        RAM: 16GiB
        IncludedScratch: 125GB
        Price: 0.6
        GPU:
          Stack: cuda
          DriverVersion: "12.4"
          HardwareTarget: "7.5"
          DeviceCount: 1
          VRAM: 16GiB
`;
}

export function testClusterConfig(cloudVMsExtra = ""): ClusterConfig {
  return parseClusterConfig(testClusterConfigYaml(cloudVMsExtra)).config;
}
