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

/**
 * The definitions of the type `names` an entry holds, from `configured` (the config's
 * InstanceTypes), in the entry's order; a name the config no longer has is left out.
 */
export function resolveInstanceTypes(
  names: readonly string[] | undefined,
  configured: Readonly<Record<string, InstanceType>>,
): InstanceType[] {
  const types: InstanceType[] = [];
  for (const name of names ?? []) {
    const it = Object.hasOwn(configured, name) ? configured[name] : undefined;
    if (it !== undefined) types.push(it);
  }
  return types;
}
