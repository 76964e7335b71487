import { describe, expect, it } from "vitest";
import { configError, issuePaths, parse } from "../support/config-errors.js";
import { ConfigError } from "../../lib/config/errors.js";
import type { KeySpec } from "../../lib/config/key-check.js";
import { clusterKeySpec } from "../../lib/config/schema.js";

describe("unknown keys in the sections we read are errors naming the key path", () => {
  it.each([
    ["Containers:\n  MaxDispatchAttemps: 3\n", "Containers.MaxDispatchAttemps"],
    ["Containers:\n  CloudVMs:\n    PolInterval: 10s\n", "Containers.CloudVMs.PolInterval"],
    [
      "Containers:\n  CloudVMs:\n    DriverParameters:\n      SubnetIDs: [a]\n",
      "Containers.CloudVMs.DriverParameters.SubnetIDs",
    ],
    ["InstanceTypes:\n  m5.large: {VCPU: 2}\n", "InstanceTypes[m5.large].VCPU"],
    ["InstanceTypes:\n  g4dn.xlarge: {GPU: {Cuda: 1}}\n", "InstanceTypes[g4dn.xlarge].GPU.Cuda"],
    ["Contianers: {}\n", "Contianers"],
  ])("%j", (yaml, path) => {
    const err = configError(yaml);
    expect(issuePaths(err)).toEqual([path]);
    expect(err.message).toContain(`${path}: unknown configuration key`);
  });

  it("a near miss gets a hint", () => {
    expect(configError("Containers:\n  CloudVMs:\n    pollinterval: 10s\n").issues[0]?.message).toBe(
      "unknown configuration key (perhaps you meant PollInterval?)",
    );
  });

  it("every problem is reported at once", () => {
    const err = configError("Containers:\n  Bogus: 1\n  CloudVMs: {PollInterval: 10x, MaxInstances: -1}\n");
    expect(issuePaths(err).sort()).toEqual([
      "Containers.Bogus",
      "Containers.CloudVMs.MaxInstances",
      "Containers.CloudVMs.PollInterval",
    ]);
  });
});

describe("upstream keys we do not use are accepted and reported as ignored", () => {
  it("other cluster sections, unused Containers and CloudVMs keys, azure and credential DriverParameters", () => {
    const { ignored } = parse(`
SystemRootToken: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
API: {MaxItemsPerResponse: 1000}
Services: {Controller: {ExternalURL: "https://zzzzz.example.com"}}
Collections: {BlobSigningKey: secret}
Containers:
  Logging: {LogUpdatePeriod: 30m}
  SLURM: {PrioritySpread: 1}
  DefaultKeepCacheRAM: 0
  CloudVMs:
    BootProbeCommand: "true"
    SSHPort: "2222"
    DriverParameters:
      AccessKeyID: AKIAEXAMPLE
      SecretAccessKey: example
      SubscriptionID: abc
`);
    expect(ignored.sort()).toEqual(
      [
        "API",
        "Collections",
        "Containers.CloudVMs.BootProbeCommand",
        "Containers.CloudVMs.DriverParameters.AccessKeyID",
        "Containers.CloudVMs.DriverParameters.SecretAccessKey",
        "Containers.CloudVMs.DriverParameters.SubscriptionID",
        "Containers.CloudVMs.SSHPort",
        "Containers.DefaultKeepCacheRAM",
        "Containers.Logging",
        "Containers.SLURM",
        "Services",
        "SystemRootToken",
      ].sort(),
    );
  });

  it("every key the schema reads is a key upstream defines", () => {
    const check = (spec: KeySpec): void => {
      if (spec.kind === "map") {
        check(spec.entry);
        return;
      }
      for (const key of spec.used) expect(spec.upstream).toContain(key);
      for (const child of Object.values(spec.children ?? {})) check(child);
    };
    check(clusterKeySpec);
  });
});

describe("values are checked for sanity", () => {
  it.each([
    ["InstanceTypes:\n  x: {RAM: -1GiB}\n", "InstanceTypes.x.RAM", /must not be negative/],
    ["InstanceTypes:\n  x: {Price: -0.1}\n", "InstanceTypes.x.Price", /must not be negative/],
    ["InstanceTypes:\n  x: {VCPUs: -2}\n", "InstanceTypes.x.VCPUs", /must not be negative/],
    ["InstanceTypes:\n  x: {VCPUs: 1.5}\n", "InstanceTypes.x.VCPUs", /whole number/],
    ["InstanceTypes:\n  x: {GPU: {DeviceCount: -1}}\n", "InstanceTypes.x.GPU.DeviceCount", /must not be negative/],
    ["InstanceTypes:\n  x: {AddedScratch: -1}\n", "InstanceTypes.x.AddedScratch", /must not be negative/],
    ["Containers: {MaxDispatchAttempts: -1}\n", "Containers.MaxDispatchAttempts", /must not be negative/],
    ["Containers: {MaximumPriceFactor: -1}\n", "Containers.MaximumPriceFactor", /must not be negative/],
    ["Containers: {ReserveExtraRAM: lots}\n", "Containers.ReserveExtraRAM", /invalid byte size "lots"/],
    ["Containers: {CloudVMs: {SupervisorFraction: 1.5}}\n", "Containers.CloudVMs.SupervisorFraction", /at most 1/],
    [
      "Containers: {CloudVMs: {SupervisorFraction: -0.1}}\n",
      "Containers.CloudVMs.SupervisorFraction",
      /must not be negative/,
    ],
    ["Containers: {CloudVMs: {TagKeyPrefix: ''}}\n", "Containers.CloudVMs.TagKeyPrefix", /must not be empty/],
    ["Containers: {CloudVMs: {Enable: maybe}}\n", "Containers.CloudVMs.Enable", /true or false/],
    ["Containers: {CloudVMs: {MaxInstances: ten}}\n", "Containers.CloudVMs.MaxInstances", /whole number/],
    ["Containers: {CloudVMs: 5}\n", "Containers.CloudVMs", /expected a map/],
    ["Containers: true\n", "Containers", /expected a map/],
    ["InstanceTypes: 5\n", "InstanceTypes", /expected a map/],
    ["InstanceTypes: {x: 5}\n", "InstanceTypes.x", /expected a map/],
  ])("%j", (yaml, path, message) => {
    const err = configError(yaml);
    expect(err.issues).toEqual([{ path, message: expect.stringMatching(message) }]);
  });

  it("SupervisorFraction 0 and 1 are both allowed", () => {
    expect(parse("Containers: {CloudVMs: {SupervisorFraction: 0}}").config.Containers.CloudVMs.SupervisorFraction).toBe(
      0,
    );
    expect(parse("Containers: {CloudVMs: {SupervisorFraction: 1}}").config.Containers.CloudVMs.SupervisorFraction).toBe(
      1,
    );
  });

  it("a GPU type needs a DriverVersion that Go's ParseFloat reads (upstream checkGPUVersions)", () => {
    const err = configError("InstanceTypes:\n  g: {GPU: {Stack: cuda, DriverVersion: 12.0.12, DeviceCount: 1}}\n");
    expect(err.issues).toEqual([
      {
        path: "InstanceTypes.g.GPU.DriverVersion",
        message: 'invalid GPU.DriverVersion "12.0.12", expected format X.Y (invalid syntax)',
      },
    ]);
    expect(() => parse("InstanceTypes:\n  g: {GPU: {DriverVersion: '', DeviceCount: 0}}\n")).not.toThrow();
  });
});

describe("the driver must be ec2", () => {
  it("loopback is refused with an explanation", () => {
    expect(configError("Containers: {CloudVMs: {Driver: loopback}}").issues[0]?.message).toMatch(
      /loopback.*only "ec2"/,
    );
  });

  it("any other driver is refused", () => {
    expect(configError("Containers: {CloudVMs: {Driver: azure}}").issues[0]?.message).toBe(
      'unsupported driver "azure": this dispatcher supports only "ec2"',
    );
  });
});

describe("DriverParameters: SubnetID and SecurityGroupIDs in upstream's forms", () => {
  const dp = (yaml: string) =>
    parse(`Containers: {CloudVMs: {DriverParameters: ${yaml}}}`).config.Containers.CloudVMs.DriverParameters;

  it.each([
    ["{SubnetID: ''}", []],
    ["{SubnetID: subnet-1}", ["subnet-1"]],
    ["{SubnetID: [subnet-1, subnet-2]}", ["subnet-1", "subnet-2"]],
    ["{SubnetID: []}", []],
  ])("SubnetID %s", (yaml, subnets) => {
    expect(dp(yaml).SubnetID).toEqual(subnets);
  });

  it.each([
    ["{SecurityGroupIDs: {sg-1: {}, sg-2: {}}}", ["sg-1", "sg-2"]],
    ["{SecurityGroupIDs: {sg-1: }}", ["sg-1"]],
    ["{SecurityGroupIDs: [sg-1, sg-2]}", ["sg-1", "sg-2"]],
    ["{SecurityGroupIDs: []}", []],
    ["{SecurityGroupIDs: {}}", []],
  ])("SecurityGroupIDs %s", (yaml, groups) => {
    expect(dp(yaml).SecurityGroupIDs).toEqual(groups);
  });

  it("a subnet list with an empty id is rejected", () => {
    expect(issuePaths(configError("Containers: {CloudVMs: {DriverParameters: {SubnetID: [a, '']}}}"))).toEqual([
      "Containers.CloudVMs.DriverParameters.SubnetID",
    ]);
  });
});

describe("YAML as upstream reads it (1.1), keeping the written text of string settings", () => {
  it("unquoted numbers in string settings keep their text: HardwareTarget 9.0 stays 9.0", () => {
    const { config } = parse(
      "InstanceTypes:\n  g: {GPU: {Stack: cuda, DriverVersion: 12.0, HardwareTarget: 9.0, DeviceCount: 1}}\n",
    );
    expect(config.InstanceTypes.g?.GPU).toMatchObject({ DriverVersion: "12.0", HardwareTarget: "9.0" });
  });

  it("yes/no are booleans", () => {
    expect(parse("Containers: {CloudVMs: {Enable: yes}}").config.Containers.CloudVMs.Enable).toBe(true);
    expect(
      parse("Containers: {AlwaysUsePreemptibleInstances: no}").config.Containers.AlwaysUsePreemptibleInstances,
    ).toBe(false);
  });

  it("JSON is accepted", () => {
    const { config } = parse(
      JSON.stringify({ Containers: { CloudVMs: { PollInterval: "20s" } }, InstanceTypes: { a: { RAM: 1024 } } }),
    );
    expect(config.Containers.CloudVMs.PollInterval).toBe(20_000);
    expect(config.InstanceTypes.a?.RAM).toBe(1024);
  });

  it("duplicate keys and syntax errors are errors with a line number", () => {
    expect(configError("Containers: {}\nContainers: {}\n").message).toMatch(
      /line 2, column 1: Map keys must be unique/,
    );
    expect(configError("Containers: [\n").message).toMatch(/YAML error/);
  });
});

describe("secrets are never echoed in errors or warnings", () => {
  const token = "v2/zzzzz-gj3su-0123456789abcde/abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmn";

  it("a token-shaped value in a bad setting is not shown", () => {
    const err = configError(`Containers: {CloudVMs: {PollInterval: "${token}"}}`);
    expect(err.issues[0]?.path).toBe("Containers.CloudVMs.PollInterval");
    expect(err.message).not.toContain("abcdefghijklmnop");
  });

  it("SystemRootToken never appears, whatever else is wrong", () => {
    const err = configError(`SystemRootToken: ${token.slice(3)}\nContainers: {Bogus: 1, ReserveExtraRAM: 12XB}\n`);
    expect(err.message).not.toContain("abcdefghijklmnop");
    expect(err.message).toContain("Containers.ReserveExtraRAM");
  });

  it("values under keys named *Token*, *Secret*, *Key* are not shown even in messages that quote values", () => {
    const err = new ConfigError([
      { path: "Containers.CloudVMs.DriverParameters.SecretAccessKey", message: 'invalid value "hunter2"' },
    ]);
    expect(err.message).not.toContain("hunter2");
    expect(err.issues[0]?.message).toBe("invalid value (value not shown)");
  });

  it("an unknown secret-named key is reported by path only", () => {
    const err = configError("Containers: {CloudVMs: {DriverParameters: {SecretKey: hunter2}}}");
    expect(err.message).toContain("Containers.CloudVMs.DriverParameters.SecretKey");
    expect(err.message).not.toContain("hunter2");
  });
});
