import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { configError, issuePaths, parse } from "../support/config-errors.js";
import { ConfigError } from "../../lib/config/errors.js";
import { configFromEnv, loadClusterConfig, parseClusterConfig } from "../../lib/config/load.js";

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const exampleConfig = fileURLToPath(new URL("../../local/default-config.yml", import.meta.url));

describe("defaults are upstream's (§6)", () => {
  const { config, ignored, warnings } = parse("{}");

  it("an empty cluster section loads with no ignored keys and no warnings", () => {
    expect(ignored).toEqual([]);
    expect(warnings).toEqual([]);
    expect(config.InstanceTypes).toEqual({});
  });

  it("Containers (§6.1)", () => {
    expect(config.Containers).toMatchObject({
      MaxDispatchAttempts: 10,
      MaxRetryAttempts: 3,
      MaximumPriceFactor: 1.5,
      ReserveExtraRAM: 550 * MiB,
      LocalKeepBlobBuffersPerVCPU: 1,
      PreemptiblePriceFactor: 0,
      AlwaysUsePreemptibleInstances: false,
      CrunchRunCommand: "crunch-run",
      CrunchRunArgumentsList: [],
      RuntimeEngine: "docker",
    });
  });

  it("Containers.CloudVMs (§6.2), durations in ms", () => {
    const { DriverParameters, ...cloudVMs } = config.Containers.CloudVMs;
    expect(cloudVMs).toEqual({
      Enable: false,
      PollInterval: 10_000,
      MaxInstances: 64,
      InitialQuotaEstimate: 0,
      SupervisorFraction: 0.5,
      TimeoutBooting: 600_000,
      TimeoutIdle: 60_000,
      TimeoutTERM: 120_000,
      MaxRunningContainersPerInstance: 0,
      ImageID: "",
      InstanceInitCommand: "",
      ResourceTags: {},
      TagKeyPrefix: "Arvados",
      Driver: "ec2",
    });
    expect(DriverParameters).toBeDefined();
  });

  it("DriverParameters (§4.3), with the default instance type quota groups", () => {
    expect(config.Containers.CloudVMs.DriverParameters).toEqual({
      Region: "",
      SecurityGroupIDs: [],
      SubnetID: [],
      AdminUsername: "crunch",
      EBSVolumeType: "gp2",
      IAMInstanceProfile: "",
      InstanceTypeQuotaGroups: {
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
      },
    });
  });

  it("null values mean the default, as upstream drops null keys before merging", () => {
    const { config: c } = parse("Containers:\n  MaxRetryAttempts: null\n  CloudVMs: ~\n");
    expect(c.Containers.MaxRetryAttempts).toBe(3);
    expect(c.Containers.CloudVMs.PollInterval).toBe(10_000);
  });

  it("configured values replace defaults", () => {
    const { config: c } = parse(
      "Containers:\n  MaximumPriceFactor: 2\n  ReserveExtraRAM: 1GiB\n  CloudVMs:\n    PollInterval: 30s\n    MaxInstances: 8\n",
    );
    expect(c.Containers.MaximumPriceFactor).toBe(2);
    expect(c.Containers.ReserveExtraRAM).toBe(GiB);
    expect(c.Containers.CloudVMs.PollInterval).toBe(30_000);
    expect(c.Containers.CloudVMs.MaxInstances).toBe(8);
  });

  it("a site's InstanceTypeQuotaGroups adds to and overrides the default entries (upstream merges maps)", () => {
    const { config: c } = parse(
      "Containers:\n  CloudVMs:\n    DriverParameters:\n      InstanceTypeQuotaGroups: {g: gpu, m: general}\n",
    );
    const groups = c.Containers.CloudVMs.DriverParameters.InstanceTypeQuotaGroups;
    expect(groups.g).toBe("gpu");
    expect(groups.m).toBe("general");
    expect(groups.p5).toBe("p5");
  });
});

describe("instance types: Name is the map key, ProviderType defaults to it, Scratch is computed (§6.3)", () => {
  const { config, warnings } = parse(`
InstanceTypes:
  m5.large: {VCPUs: 2, RAM: 8GiB, IncludedScratch: 10GB, AddedScratch: 50GiB, Price: 0.096}
  m5.xlarge.spot: {ProviderType: m5.xlarge, VCPUs: 4, RAM: 16GiB, Price: 0.08, Preemptible: true, Scratch: 1TB}
`);

  it("Name = key; ProviderType = key unless set", () => {
    expect(config.InstanceTypes["m5.large"]).toMatchObject({
      Name: "m5.large",
      ProviderType: "m5.large",
      VCPUs: 2,
      RAM: 8 * GiB,
      Price: 0.096,
    });
    expect(config.InstanceTypes["m5.xlarge.spot"]).toMatchObject({
      Name: "m5.xlarge.spot",
      ProviderType: "m5.xlarge",
      Preemptible: true,
    });
  });

  it("Scratch = IncludedScratch + AddedScratch", () => {
    expect(config.InstanceTypes["m5.large"]?.Scratch).toBe(10e9 + 50 * GiB);
  });

  it("a configured Scratch is ignored, with a warning naming the key", () => {
    expect(config.InstanceTypes["m5.xlarge.spot"]?.Scratch).toBe(0);
    expect(warnings).toEqual([expect.stringContaining("InstanceTypes[m5.xlarge.spot].Scratch: ignored")]);
  });

  it("fields a type leaves out are zero, as upstream (the SAMPLE values are not defaults)", () => {
    const { config: c } = parse("InstanceTypes:\n  tiny: {}\n");
    expect(c.InstanceTypes.tiny).toEqual({
      Name: "tiny",
      ProviderType: "tiny",
      VCPUs: 0,
      RAM: 0,
      Scratch: 0,
      IncludedScratch: 0,
      AddedScratch: 0,
      Price: 0,
      Preemptible: false,
      GPU: { Stack: "", DriverVersion: "", HardwareTarget: "", DeviceCount: 0, VRAM: 0 },
    });
  });

  it("InstanceTypes given as a list is rejected with upstream's message", () => {
    const err = configError("InstanceTypes:\n  - {Name: m5.large, VCPUs: 2}\n");
    expect(err.issues).toEqual([
      {
        path: "InstanceTypes",
        message: expect.stringContaining("InstanceTypes must be specified as a map, not an array"),
      },
    ]);
  });
});

describe("preemptible variants: PreemptiblePriceFactor > 0 adds <name>.preemptible at Price × factor", () => {
  const yaml = (factor: number, extra = "") => `
Containers: {PreemptiblePriceFactor: ${factor}}
InstanceTypes:
  m5.large: {VCPUs: 2, RAM: 8GiB, Price: 0.1}
  spot.only: {VCPUs: 2, RAM: 8GiB, Price: 0.05, Preemptible: true}
${extra}`;

  it("each non-preemptible type gets a preemptible copy with the same ProviderType", () => {
    const { config } = parse(yaml(0.5));
    expect(config.InstanceTypes["m5.large.preemptible"]).toEqual({
      ...config.InstanceTypes["m5.large"],
      Name: "m5.large.preemptible",
      Preemptible: true,
      Price: 0.05,
    });
    expect(config.InstanceTypes["m5.large.preemptible"]?.ProviderType).toBe("m5.large");
  });

  it("types already preemptible get no variant", () => {
    const { config } = parse(yaml(0.5));
    expect(Object.keys(config.InstanceTypes).sort()).toEqual(["m5.large", "m5.large.preemptible", "spot.only"]);
  });

  it("factor 0 adds nothing", () => {
    const { config } = parse(yaml(0));
    expect(Object.keys(config.InstanceTypes).sort()).toEqual(["m5.large", "spot.only"]);
  });

  it("a configured type with the variant's name is kept, with a warning when it differs", () => {
    const { config, warnings } = parse(
      yaml(0.5, "  m5.large.preemptible: {VCPUs: 2, RAM: 8GiB, Price: 0.07, Preemptible: true}\n"),
    );
    expect(config.InstanceTypes["m5.large.preemptible"]?.Price).toBe(0.07);
    expect(warnings).toEqual([
      "InstanceTypes[m5.large.preemptible]: already exists, so not automatically adding a preemptible variant of m5.large",
    ]);
  });

  it("a configured type identical to the variant is kept silently", () => {
    const same =
      "  m5.large.preemptible: {ProviderType: m5.large, VCPUs: 2, RAM: 8GiB, Price: 0.05, Preemptible: true}\n";
    expect(parse(yaml(0.5, same)).warnings).toEqual([]);
  });
});

describe("a whole config file or a bare cluster section", () => {
  const section = "Containers: {CloudVMs: {MaxInstances: 7}}\nInstanceTypes: {a: {VCPUs: 1}}\n";
  const indented = `${section.trimEnd().replace(/^/gm, "    ")}\n`;

  it("a whole file with one cluster: that cluster, with its id", () => {
    const { config } = parseClusterConfig(`Clusters:\n  zzzzz:\n${indented}`);
    expect(config.ClusterID).toBe("zzzzz");
    expect(config.Containers.CloudVMs.MaxInstances).toBe(7);
  });

  it("a bare section gives the same configuration, with ClusterID '' or the given id", () => {
    const whole = parseClusterConfig(`Clusters:\n  zzzzz:\n${indented}`).config;
    expect(parseClusterConfig(section).config).toEqual({ ...whole, ClusterID: "" });
    expect(parseClusterConfig(section, { clusterId: "zzzzz" }).config).toEqual(whole);
  });

  it("several clusters need clusterId", () => {
    const text = `Clusters:\n  aaaaa:\n${indented}  bbbbb:\n    Containers: {CloudVMs: {MaxInstances: 9}}\n`;
    expect(configError(text).issues[0]?.message).toMatch(/several clusters \(aaaaa, bbbbb\)/);
    expect(parseClusterConfig(text, { clusterId: "bbbbb" }).config.Containers.CloudVMs.MaxInstances).toBe(9);
    expect(configError(text, { clusterId: "ccccc" }).issues[0]?.message).toMatch(/"ccccc" is not defined/);
  });

  it("cluster ids are five lowercase alphanumerics", () => {
    expect(configError(`Clusters:\n  Prod1x:\n${indented}`).issues[0]?.path).toBe("Clusters.Prod1x");
  });

  it("a file holds only upstream's top-level keys: an unknown one is an error naming them", () => {
    const err = configError(`Clusters:\n  zzzzz: {}\nExtra: 1\nAutoReloadConfg: true\n`);
    expect(issuePaths(err)).toEqual(["Extra", "AutoReloadConfg"]);
    expect(err.issues[0]?.message).toBe(
      "unknown configuration key: a config file's top level holds Clusters, AutoReloadConfig, SourceTimestamp, SourceSHA256",
    );
    expect(err.issues[1]?.message).toMatch(/^unknown configuration key \(perhaps you meant AutoReloadConfig\?\)/);
  });

  it("AutoReloadConfig, and config-dump's SourceTimestamp and SourceSHA256, load and are reported as ignored", () => {
    const text = `Clusters:\n  zzzzz:\n${indented}AutoReloadConfig: true\nSourceTimestamp: "2026-11-30T14:03:27.123456789Z"\nSourceSHA256: ${"a".repeat(64)}\n`;
    const { config, ignored, warnings } = parseClusterConfig(text);
    expect(config.Containers.CloudVMs.MaxInstances).toBe(7);
    expect(ignored).toEqual(["AutoReloadConfig", "SourceTimestamp", "SourceSHA256"]);
    expect(warnings).toEqual([]);
  });

  it("upstream keys this dispatcher does not honour are reported as not used here, never silently taken (issue #17.4)", () => {
    const text = [
      "Containers:",
      "  StaleLockTimeout: 5m",
      "  CloudVMs:",
      "    MaxConcurrentInstanceCreateOps: 4",
      "    MaxCloudOpsPerSecond: 5",
      "    SyncInterval: 30s",
      "    TimeoutIdle: 2m",
      "    TimeoutShutdown: 20s",
      "    DriverParameters:",
      "      EBSPrice: 0.08",
      "      SpotPriceUpdateInterval: 12h",
      "",
    ].join("\n");
    expect(parseClusterConfig(text).ignored.sort()).toEqual(
      [
        "Containers.StaleLockTimeout",
        "Containers.CloudVMs.MaxConcurrentInstanceCreateOps",
        "Containers.CloudVMs.MaxCloudOpsPerSecond",
        "Containers.CloudVMs.SyncInterval",
        "Containers.CloudVMs.TimeoutShutdown",
        "Containers.CloudVMs.DriverParameters.EBSPrice",
        "Containers.CloudVMs.DriverParameters.SpotPriceUpdateInterval",
      ].sort(),
    );
  });

  it("empty text and non-map text are rejected", () => {
    expect(configError("").issues[0]?.message).toMatch(/empty/);
    expect(configError("- a\n- b\n").issues[0]?.message).toMatch(/expected a map/);
  });
});

describe("loading from a file and from DISPATCH_CONFIG", () => {
  it("the example config (local/default-config.yml) loads cleanly", () => {
    const { config, ignored, warnings } = loadClusterConfig(exampleConfig);
    expect(ignored).toEqual([]);
    expect(warnings).toEqual([]);
    expect(config.ClusterID).toBe("zzzzz");
    expect(config.Containers.CloudVMs).toMatchObject({
      PollInterval: 10_000,
      MaxInstances: 64,
      TagKeyPrefix: "Arvados",
      Driver: "ec2",
    });
    expect(config.Containers.CloudVMs.ImageID).toMatch(/^ami-/);
    expect(config.Containers.CloudVMs.DriverParameters.SubnetID).toHaveLength(2);
    expect(config.Containers.CloudVMs.DriverParameters.SecurityGroupIDs).toHaveLength(1);
    const types = Object.values(config.InstanceTypes);
    expect(types.length).toBeGreaterThanOrEqual(8);
    expect(types.filter((t) => t.Preemptible)).toHaveLength(1);
    expect(types.filter((t) => t.GPU.Stack === "cuda").map((t) => t.ProviderType)).toEqual(["g4dn.xlarge"]);
  });

  it("configFromEnv loads the file DISPATCH_CONFIG names", () => {
    expect(configFromEnv({ DISPATCH_CONFIG: exampleConfig }).config.ClusterID).toBe("zzzzz");
  });

  it("configFromEnv loads the cluster ARVADOS_CLUSTER_ID names from a file that defines several", () => {
    const dir = mkdtempSync(join(tmpdir(), "dispatch-config-"));
    const file = join(dir, "config.yml");
    writeFileSync(file, "Clusters:\n  aaaaa: {}\n  bbbbb: {Containers: {MaxDispatchAttempts: 7}}\n");
    const { config } = configFromEnv({ DISPATCH_CONFIG: file, ARVADOS_CLUSTER_ID: "bbbbb" });
    expect(config.ClusterID).toBe("bbbbb");
    expect(config.Containers.MaxDispatchAttempts).toBe(7);
    expect(() => configFromEnv({ DISPATCH_CONFIG: file })).toThrow(/several clusters \(aaaaa, bbbbb\)/);
  });

  it("configFromEnv fails at cold start when the file does not define the deployment's cluster", () => {
    // The stream filters and metrics are scoped to the stage's cluster id: a config for another
    // cluster would leave choose-instance-types deaf to every new entry.
    expect(() => configFromEnv({ DISPATCH_CONFIG: exampleConfig, ARVADOS_CLUSTER_ID: "xyzzy" })).toThrow(
      /Clusters: cluster "xyzzy" is not defined \(the file defines zzzzz\)/,
    );
  });

  it("a bare cluster section takes its id from ARVADOS_CLUSTER_ID, which must be a cluster id", () => {
    const dir = mkdtempSync(join(tmpdir(), "dispatch-config-"));
    const file = join(dir, "section.yml");
    writeFileSync(file, "Containers: {MaxDispatchAttempts: 4}\n");
    expect(configFromEnv({ DISPATCH_CONFIG: file, ARVADOS_CLUSTER_ID: "xyzzy" }).config.ClusterID).toBe("xyzzy");
    expect(() => configFromEnv({ DISPATCH_CONFIG: file, ARVADOS_CLUSTER_ID: "Not-A-Cluster" })).toThrow(
      /cluster ID "Not-A-Cluster" should be 5 lowercase alphanumeric characters/,
    );
  });

  it("configFromEnv fails naming DISPATCH_CONFIG when it is unset", () => {
    const run = () => configFromEnv({});
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/DISPATCH_CONFIG: environment variable is not set/);
  });

  it("configFromEnv fails naming DISPATCH_CONFIG when the file cannot be read", () => {
    const dir = mkdtempSync(join(tmpdir(), "dispatch-config-"));
    expect(() => configFromEnv({ DISPATCH_CONFIG: join(dir, "missing.yml") })).toThrow(
      /DISPATCH_CONFIG: cannot read .*missing\.yml.*ENOENT/,
    );
  });

  it("errors from a file name the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "dispatch-config-"));
    const file = join(dir, "bad.yml");
    writeFileSync(file, "Containers: {CloudVMs: {PollInterval: 10x}}\n");
    expect(() => loadClusterConfig(file)).toThrow(`invalid dispatcher configuration (${file})`);
  });
});
