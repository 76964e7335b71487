/**
 * Builds the InstanceTypes map from the parsed section, as upstream's loader does (§6.3):
 * `Name` = the map key, `ProviderType` defaults to the name, `Scratch = IncludedScratch +
 * AddedScratch`, GPU driver versions must parse (load.go checkGPUVersions), and
 * `PreemptiblePriceFactor > 0` adds `<name>.preemptible` variants (load.go autofillPreemptible).
 */
import { parseGoFloat } from "./go-float.js";
import { type ConfigIssue, formatPath, showValue } from "./errors.js";
import type { ParsedInstanceType } from "./schema.js";
import type { InstanceType } from "../model/instance-type.js";

/** The finished map, with any issues (invalid GPU versions) and warnings (variants not added). */
export interface InstanceTypeMapResult {
  instanceTypes: Record<string, InstanceType>;
  issues: ConfigIssue[];
  warnings: string[];
}

function sameType(a: InstanceType, b: InstanceType): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Turns parsed entries into InstanceTypes and adds preemptible variants when
 * `preemptiblePriceFactor > 0`.
 */
export function buildInstanceTypes(
  parsed: Readonly<Record<string, ParsedInstanceType>>,
  preemptiblePriceFactor: number,
): InstanceTypeMapResult {
  const issues: ConfigIssue[] = [];
  const warnings: string[] = [];
  const instanceTypes: Record<string, InstanceType> = {};
  for (const [name, t] of Object.entries(parsed)) {
    const scratch = t.IncludedScratch + t.AddedScratch;
    if (!Number.isSafeInteger(scratch)) {
      issues.push({
        path: formatPath(["InstanceTypes", name]),
        message: "IncludedScratch + AddedScratch is too large",
      });
    }
    // load.go checkGPUVersions: a type with GPUs needs a DriverVersion ParseFloat accepts.
    if (t.GPU.DeviceCount > 0) {
      const parsedVersion = parseGoFloat(t.GPU.DriverVersion);
      if (!parsedVersion.ok) {
        const path = formatPath(["InstanceTypes", name, "GPU", "DriverVersion"]);
        issues.push({
          path,
          message: `invalid GPU.DriverVersion ${showValue(path, t.GPU.DriverVersion)}, expected format X.Y (${parsedVersion.error})`,
        });
      }
    }
    if (t.GPU.Stack !== "" && t.GPU.Stack !== "cuda" && t.GPU.Stack !== "rocm") {
      // Upstream accepts any stack; such a type can never match a container (§2.5 rule 6).
      warnings.push(
        `${formatPath(["InstanceTypes", name, "GPU", "Stack"])}: not "cuda" or "rocm", so no container can use this type`,
      );
    }
    instanceTypes[name] = {
      Name: name,
      ProviderType: t.ProviderType === "" ? name : t.ProviderType,
      VCPUs: t.VCPUs,
      RAM: t.RAM,
      Scratch: scratch,
      IncludedScratch: t.IncludedScratch,
      AddedScratch: t.AddedScratch,
      Price: t.Price,
      Preemptible: t.Preemptible,
      GPU: { ...t.GPU },
    };
  }
  if (preemptiblePriceFactor > 0) {
    // Object.entries is a snapshot: only configured types get variants (upstream skips the
    // generated ones because they are preemptible), so the result does not depend on order.
    for (const [name, it] of Object.entries(instanceTypes)) {
      if (it.Preemptible) continue;
      const variant: InstanceType = {
        ...it,
        GPU: { ...it.GPU },
        Name: `${name}.preemptible`,
        Preemptible: true,
        Price: it.Price * preemptiblePriceFactor,
      };
      const existing = instanceTypes[variant.Name];
      if (existing !== undefined) {
        if (!sameType(existing, variant)) {
          warnings.push(
            `${formatPath(["InstanceTypes", variant.Name])}: already exists, so not automatically adding a preemptible variant of ${name}`,
          );
        }
        continue;
      }
      instanceTypes[variant.Name] = variant;
    }
  }
  return { instanceTypes, issues, warnings };
}
