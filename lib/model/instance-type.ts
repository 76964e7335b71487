/** `InstanceTypes.<name>.GPU` (§6.3). `VRAM` is bytes per GPU. */
export interface GPUFeatures {
  Stack: string;
  DriverVersion: string;
  HardwareTarget: string;
  DeviceCount: number;
  VRAM: number;
}

/** One configured instance type (§6.3). `Scratch` is always `IncludedScratch + AddedScratch`. */
export interface InstanceType {
  Name: string;
  ProviderType: string;
  VCPUs: number;
  RAM: number;
  Scratch: number;
  IncludedScratch: number;
  AddedScratch: number;
  Price: number;
  Preemptible: boolean;
  GPU: GPUFeatures;
}
