/**
 * The zod schema of the cluster section this dispatcher reads (§6): `Containers` (§6.1),
 * `Containers.CloudVMs` (§6.2) with the ec2 `DriverParameters` (§4.3), and `InstanceTypes`
 * (§6.3), with upstream's defaults. Key checking (unknown vs ignored) is driven by the same
 * shapes: `clusterKeySpec` lists as "used" exactly the keys these shapes read.
 */
import { z } from "zod";
import type { KeySpec } from "./key-check.js";
import {
  upstreamCloudVMsKeys,
  upstreamClusterKeys,
  upstreamContainersKeys,
  upstreamDriverParametersKeys,
  upstreamGPUKeys,
  upstreamInstanceTypeKeys,
} from "./known-keys.js";
import {
  bool,
  byteSize,
  count,
  duration,
  nonEmptyStr,
  nonNegative,
  section,
  str,
  stringList,
  stringMap,
  withoutNulls,
} from "./fields.js";
import { type ConfigNode, isConfigMap } from "./yaml-tree.js";

type Ctx = z.core.$RefinementCtx;

function fail(ctx: Ctx, message: string): never {
  ctx.addIssue({ code: "custom", message });
  return z.NEVER;
}

/** §4.3 InstanceTypeQuotaGroups default (config.default.yml). */
export const defaultInstanceTypeQuotaGroups: Readonly<Record<string, string>> = {
  a: "standard",
  c: "standard",
  d: "standard",
  h: "standard",
  i: "standard",
  m: "standard",
  r: "standard",
  t: "standard",
  z: "standard",
  vt: "g",
  p5: "p5",
};

/** §4.3 SubnetID (upstream sliceOrSingleString): "" → [], "x" → ["x"], a list stays a list, [] → []. */
const subnetIds = z
  .unknown()
  .transform((v, ctx): string[] => {
    if (typeof v === "string") return v === "" ? [] : [v];
    if (!Array.isArray(v)) return fail(ctx, "expected a subnet id or a list of subnet ids");
    return v.map((item: ConfigNode) => {
      if (typeof item !== "string" || item === "") return fail(ctx, "expected a list of non-empty subnet ids");
      return item;
    });
  })
  .default([]);

/**
 * §4.3 SecurityGroupIDs (upstream arvados.StringSet): a map whose keys are the ids (`sg-1: {}`)
 * or a list of ids. A key with an empty value (`sg-1:`) counts as listed; upstream's null
 * removal would silently drop it.
 */
const securityGroupIds = z
  .unknown()
  .transform((v, ctx): string[] => {
    if (Array.isArray(v)) {
      return v.map((item: ConfigNode) =>
        typeof item === "string" && item !== "" ? item : fail(ctx, "expected a list of security group ids"),
      );
    }
    if (!isConfigMap(v as ConfigNode)) return fail(ctx, "expected a map or a list of security group ids");
    const entries = Object.entries(v as Record<string, ConfigNode>);
    for (const [id, value] of entries) {
      if (value !== null && !(isConfigMap(value) && Object.keys(value).length === 0)) {
        ctx.addIssue({ code: "custom", message: "expected {} (the ids are the keys)", path: [id] });
      }
    }
    return entries.map(([id]) => id);
  })
  .default([]);

/** CloudVMs.Driver: this dispatcher drives EC2 only. */
const driver = z
  .unknown()
  .transform((v, ctx): string => {
    if (v === "ec2") return v;
    if (v === "loopback")
      return fail(ctx, 'the "loopback" driver is for upstream\'s own tests; this dispatcher supports only "ec2"');
    return fail(
      ctx,
      typeof v === "string"
        ? `unsupported driver ${JSON.stringify(v)}: this dispatcher supports only "ec2"`
        : 'expected "ec2"',
    );
  })
  .default("ec2");

/*
 * Upstream keys deliberately absent from these shapes, so a file that sets them gets them in the
 * "config keys not used here" log (README "Configuration keys not used here"):
 * - CloudVMs.MaxConcurrentInstanceCreateOps: one launch pass at a time makes its RunInstances
 *   calls one after another, so at most one create is ever in flight;
 * - CloudVMs.MaxCloudOpsPerSecond: RunInstances is paced by the table's token bucket at EC2's
 *   own rate (2/s), and the other calls are a few a minute;
 * - CloudVMs.SyncInterval: cleanup lists instances on its one-minute schedule;
 * - CloudVMs.TimeoutShutdown: an instance powers itself off (terminate on shutdown), so it is
 *   never shut down by us (TimeoutIdle and MaxRunningContainersPerInstance are read: pool mode);
 * - Containers.StaleLockTimeout: no worker reports to wait for at startup (§3.5); cleanup
 *   requeues a lock whose instance is gone, judged against the queue's threshold;
 * - DriverParameters.EBSPrice, SpotPriceUpdateInterval: used upstream for cost reports only.
 */
const driverParametersShape = {
  Region: str(""),
  SecurityGroupIDs: securityGroupIds,
  SubnetID: subnetIds,
  AdminUsername: str("crunch"),
  EBSVolumeType: str("gp2"),
  IAMInstanceProfile: str(""),
  InstanceTypeQuotaGroups: stringMap(defaultInstanceTypeQuotaGroups),
};

const cloudVMsShape = {
  Enable: bool(false),
  PollInterval: duration("10s"),
  MaxInstances: count(64),
  InitialQuotaEstimate: count(0),
  SupervisorFraction: nonNegative(0.5, 1),
  TimeoutBooting: duration("10m"),
  // Pool mode (WORKER_MODE=pool, issue #18): an idle worker powers off after TimeoutIdle, its
  // agent signals a container it kills for TimeoutTERM, and one worker runs at most
  // MaxRunningContainersPerInstance containers (0 = unlimited). 0 means upstream's default
  // (lib/config/pool-timeouts.ts).
  TimeoutIdle: duration("1m"),
  TimeoutTERM: duration("2m"),
  MaxRunningContainersPerInstance: count(0),
  ImageID: str(""),
  InstanceInitCommand: str(""),
  ResourceTags: stringMap(),
  TagKeyPrefix: nonEmptyStr("Arvados"),
  Driver: driver,
  DriverParameters: section(driverParametersShape),
};

const containersShape = {
  MaxDispatchAttempts: count(10),
  MaxRetryAttempts: count(3),
  MaximumPriceFactor: nonNegative(1.5),
  ReserveExtraRAM: byteSize("550MiB"),
  LocalKeepBlobBuffersPerVCPU: count(1),
  PreemptiblePriceFactor: nonNegative(0),
  AlwaysUsePreemptibleInstances: bool(false),
  CrunchRunCommand: str("crunch-run"),
  CrunchRunArgumentsList: stringList([]),
  RuntimeEngine: str("docker"),
  CloudVMs: section(cloudVMsShape),
};

// §6.3: fields a type leaves out are Go zero values. (config.default.yml's SAMPLE entry shows
// example values, e.g. VCPUs 1, but upstream drops SAMPLE entries before merging, so they are
// not defaults.)
const gpuShape = {
  Stack: str(""),
  DriverVersion: str(""),
  HardwareTarget: str(""),
  DeviceCount: count(0),
  VRAM: byteSize(0),
};

const instanceTypeShape = {
  ProviderType: str(""),
  VCPUs: count(0),
  RAM: byteSize(0),
  IncludedScratch: byteSize(0),
  AddedScratch: byteSize(0),
  Price: nonNegative(0),
  Preemptible: bool(false),
  GPU: section(gpuShape),
};

/** The upstream message for the pre-1.2 list form (sdk/go/arvados/config.go InstanceTypeMap). */
export const instanceTypesListMessage =
  "InstanceTypes must be specified as a map, not an array, see https://doc.arvados.org/admin/config.html";

const instanceTypes = z
  .preprocess(
    (v, ctx) => {
      if (Array.isArray(v)) {
        ctx.addIssue({ code: "custom", message: instanceTypesListMessage });
        return {};
      }
      // A type named __proto__ cannot live in a JavaScript record: say so rather than drop it.
      if (typeof v === "object" && v !== null && Object.hasOwn(v, "__proto__")) {
        ctx.addIssue({ code: "custom", path: ["__proto__"], message: "__proto__ cannot be an instance type name" });
      }
      return withoutNulls(v);
    },
    z.record(z.string(), section(instanceTypeShape), { error: "expected a map of instance types keyed by name" }),
  )
  .prefault({});

/** The cluster section as parsed, before instance-type fix-ups (Name, Scratch, preemptible variants). */
export const clusterSectionSchema = z.preprocess(
  withoutNulls,
  z.object(
    { Containers: section(containersShape), InstanceTypes: instanceTypes },
    { error: "expected a map of settings" },
  ),
);

/** The output of clusterSectionSchema. */
export type ParsedClusterSection = z.output<typeof clusterSectionSchema>;
/** One parsed InstanceTypes entry, before fix-ups. */
export type ParsedInstanceType = ParsedClusterSection["InstanceTypes"][string];

const scratchWarning = "ignored: Scratch is always computed as IncludedScratch + AddedScratch";

/** Key checking for a cluster section, with "used" taken from the shapes above. */
export const clusterKeySpec: KeySpec = {
  kind: "section",
  upstream: upstreamClusterKeys,
  used: ["Containers", "InstanceTypes"],
  children: {
    Containers: {
      kind: "section",
      upstream: upstreamContainersKeys,
      used: Object.keys(containersShape),
      children: {
        CloudVMs: {
          kind: "section",
          upstream: upstreamCloudVMsKeys,
          used: Object.keys(cloudVMsShape),
          children: {
            DriverParameters: {
              kind: "section",
              upstream: upstreamDriverParametersKeys,
              used: Object.keys(driverParametersShape),
            },
          },
        },
      },
    },
    InstanceTypes: {
      kind: "map",
      entry: {
        kind: "section",
        upstream: upstreamInstanceTypeKeys,
        used: Object.keys(instanceTypeShape),
        warn: { Scratch: scratchWarning },
        children: { GPU: { kind: "section", upstream: upstreamGPUKeys, used: Object.keys(gpuShape) } },
      },
    },
  },
};
