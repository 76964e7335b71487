/**
 * The user data of one launch, composed from the config, the deployment and the launch (the
 * one place that does, so what is checked is what is sent), and the check that the largest a
 * config can produce fits EC2's limit, made when the config is loaded rather than at launch.
 */
import { ConfigError, type ConfigIssue, formatPath } from "../config/errors.js";
import type { ClusterConfig } from "../config/types.js";
import type { InstanceType } from "../model/instance-type.js";
import { buildUserData, shellQuote, UserDataError } from "./user-data.js";

/** EC2's limit on user data: 16 KB, counted before base64 (RunInstances docs). */
export const maxUserDataBytes = 16_384;

/** Length of the §4.1 instance secret (hex characters) the launcher derives for each try. */
export const instanceSecretLength = 40;

/** What the deployment, not the config, puts into every boot script. */
export interface BootDeployment {
  /** `ARVADOS_API_HOST`. */
  apiHost: string;
  /** `ARVADOS_API_HOST_INSECURE` set to a true value. */
  apiHostInsecure: boolean;
  /** `ARVADOS_API_TOKEN_PARAMETER`: the SSM parameter holding the token. */
  tokenParameterName: string;
  /** The AWS region of that parameter. */
  region: string;
}

/**
 * The longest each deployment value can be, assumed for a value not known yet (at build time).
 * A DNS name has at most 253 characters (plus a scheme and a port); an SSM parameter name,
 * ARN included, at most 1011; AWS region names are under 16 characters, 32 leaves room.
 */
export const longestBootDeployment: BootDeployment = {
  apiHost: `https://${"h".repeat(253)}:65535`,
  apiHostInsecure: true,
  tokenParameterName: "p".repeat(1011),
  region: "r".repeat(32),
};

/** The environment settings behind each deployment value, for messages. */
const deploymentSettings: Record<Exclude<keyof BootDeployment, "apiHostInsecure">, string> = {
  apiHost: "ARVADOS_API_HOST",
  tokenParameterName: "ARVADOS_API_TOKEN_PARAMETER",
  region: "AWS_REGION",
};

/** What varies from one launch to the next. */
export interface LaunchValues {
  containerUuid: string;
  instanceType: InstanceType;
  /** Must be the same on a retry of the same try (see `clientToken`). */
  instanceSecret: string;
}

/**
 * The boot script of one launch, exactly as RunInstances sends it (before base64). Throws
 * InvalidContainerUuidError or UserDataError for a value the script cannot carry.
 */
export function launchUserData(config: ClusterConfig, deployment: BootDeployment, launch: LaunchValues): string {
  return buildUserData({
    instanceSecret: launch.instanceSecret,
    initCommand: config.Containers.CloudVMs.InstanceInitCommand,
    tokenParameterName: deployment.tokenParameterName,
    region: deployment.region,
    apiHost: deployment.apiHost,
    ...(deployment.apiHostInsecure ? { apiHostInsecure: true } : {}),
    containerUuid: launch.containerUuid,
    crunchRunCommand: config.Containers.CrunchRunCommand,
    runtimeEngine: config.Containers.RuntimeEngine,
    crunchRunArgs: config.Containers.CrunchRunArgumentsList,
    // Sorted keys: the entry's copy of the type comes back from DynamoDB, whose maps keep no
    // order, and a repeated call must send byte-identical user data.
    env: { InstanceType: canonicalJson(launch.instanceType) },
    spotCheck: launch.instanceType.Preemptible,
  });
}

/** JSON with every object's keys sorted: the same text for equal values, whatever the key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === "object" && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** One part of the user data: the setting it comes from and the bytes it takes. */
export interface UserDataPart {
  /** A config key path (`Containers.CloudVMs.InstanceInitCommand`) or an environment setting. */
  key: string;
  bytes: number;
  /** True for a deployment value not known yet, counted at its longest. */
  assumed?: boolean;
}

/** The largest user data a config can produce, and what it is made of. */
export interface LargestUserData {
  bytes: number;
  /** The parts that vary with the config or the deployment, largest first. */
  parts: UserDataPart[];
}

const byteLength = (text: string) => Buffer.byteLength(text, "utf8");

/**
 * The largest user data `config` can produce with `deployment` (values left out are taken at
 * their longest): a container uuid is always 27 characters and the instance secret 40, so the
 * launch that varies is the one of the instance type with the longest JSON. Undefined when the
 * config has no instance types (nothing is ever launched).
 */
export function largestUserData(
  config: ClusterConfig,
  deployment: Partial<BootDeployment> = {},
): LargestUserData | undefined {
  const size = (it: InstanceType) => byteLength(shellQuote(JSON.stringify(it)));
  let largest: [string, InstanceType] | undefined;
  for (const entry of Object.entries(config.InstanceTypes)) {
    if (largest === undefined || size(entry[1]) > size(largest[1])) largest = entry;
  }
  if (largest === undefined) return undefined;
  const [largestName, largestType] = largest;
  const full: BootDeployment = { ...longestBootDeployment, ...withoutUndefined(deployment) };
  const text = launchUserData(config, full, {
    containerUuid: `${config.ClusterID || "zzzzz"}-dz642-${"z".repeat(15)}`,
    instanceType: largestType,
    instanceSecret: "f".repeat(instanceSecretLength),
  });
  const { Containers } = config;
  const parts: UserDataPart[] = [
    { key: "Containers.CloudVMs.InstanceInitCommand", bytes: byteLength(Containers.CloudVMs.InstanceInitCommand) },
    { key: "Containers.CrunchRunCommand", bytes: byteLength(shellQuote(Containers.CrunchRunCommand)) },
    {
      key: "Containers.CrunchRunArgumentsList",
      bytes: Containers.CrunchRunArgumentsList.reduce((n, arg) => n + 1 + byteLength(shellQuote(arg)), 0),
    },
    { key: "Containers.RuntimeEngine", bytes: byteLength(Containers.RuntimeEngine) },
    { key: formatPath(["InstanceTypes", largestName]), bytes: size(largestType) },
  ];
  for (const [field, setting] of Object.entries(deploymentSettings) as [keyof typeof deploymentSettings, string][]) {
    parts.push({
      key: setting,
      bytes: byteLength(shellQuote(full[field])),
      ...(deployment[field] === undefined ? { assumed: true } : {}),
    });
  }
  return { bytes: byteLength(text), parts: parts.filter((p) => p.bytes > 0).sort((a, b) => b.bytes - a.bytes) };
}

function withoutUndefined(deployment: Partial<BootDeployment>): Partial<BootDeployment> {
  return Object.fromEntries(Object.entries(deployment).filter(([, v]) => v !== undefined));
}

/**
 * A UserDataTooLargeError is a config whose EC2 user data could pass EC2's 16 KB limit: every
 * launch of its largest instance type would fail. Its issues name the parts, largest first.
 */
export class UserDataTooLargeError extends ConfigError {
  override readonly name = "UserDataTooLargeError";
  /** The largest user data the config can produce, in bytes. */
  readonly bytes: number;
  readonly limitBytes: number;
  readonly parts: readonly UserDataPart[];

  constructor(largest: LargestUserData, source?: string) {
    const summary = `the EC2 user data of a launch would be up to ${largest.bytes} bytes, over EC2's limit of ${maxUserDataBytes} bytes (counted before base64); its parts that vary, largest first:`;
    const issues: ConfigIssue[] = [
      { path: "", message: summary },
      ...largest.parts.map((p) => ({
        path: p.key,
        message: `${p.bytes} bytes${p.assumed === true ? " (not known yet: counted at its longest)" : ""}`,
      })),
    ];
    super(issues, source);
    this.bytes = largest.bytes;
    this.limitBytes = maxUserDataBytes;
    this.parts = largest.parts;
  }
}

/** The config key of each value a boot script may be unable to carry. */
const userDataFieldKeys: Readonly<Record<string, string>> = {
  crunchRunCommand: "Containers.CrunchRunCommand",
  runtimeEngine: "Containers.RuntimeEngine",
  crunchRunArgs: "Containers.CrunchRunArgumentsList",
  "env.InstanceType": "InstanceTypes",
};

/**
 * Refuses a config whose user data could pass EC2's limit (UserDataTooLargeError) or that holds
 * a value no boot script can carry, such as a NUL byte (ConfigError naming the key). Deployment
 * values left out are counted at their longest. Call it where the config is loaded.
 */
export function checkUserDataFits(
  config: ClusterConfig,
  deployment: Partial<BootDeployment> = {},
  source?: string,
): void {
  let largest: LargestUserData | undefined;
  try {
    largest = largestUserData(config, deployment);
  } catch (err) {
    if (!(err instanceof UserDataError)) throw err;
    const path = userDataFieldKeys[err.field] ?? err.field;
    throw new ConfigError(
      [{ path, message: "cannot be carried by the EC2 boot script (it contains a NUL byte)" }],
      source,
    );
  }
  if (largest !== undefined && largest.bytes > maxUserDataBytes) throw new UserDataTooLargeError(largest, source);
}
