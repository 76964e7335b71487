import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../lib/config/errors.js";
import { configFromEnv, loadClusterConfig, parseClusterConfig } from "../../lib/config/load.js";
import { maxAliasCount, maxAliasExpansion } from "../../lib/config/yaml-tree.js";
import { errorTexts } from "../support/hostile-text.js";

/*
 * Hostile configuration files, as an operator might really deploy them: a whole Arvados
 * config.yml whose other sections hold secrets. Every bad file fails at load (cold start) with
 * one ConfigError that names the file and the key path of every problem, and never shows a
 * secret from the file.
 */

const secret = "SECRET-canary-config-0123456789abcdefghij";

/** A whole config.yml for cluster zzzzz, with secrets in the sections the dispatcher ignores. */
function configYml(
  parts: { containers?: string; cloudVMs?: string; instanceTypes?: string; extraClusters?: string } = {},
): string {
  const indent = (text: string, n: number) =>
    text
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => `${" ".repeat(n)}${l}`)
      .join("\n");
  return `Clusters:
  zzzzz:
    SystemRootToken: ${secret}
    ManagementToken: ${secret}-mgmt
    Collections:
      BlobSigningKey: ${secret}-blob
    Containers:
      DispatchPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\\n${secret}\\n-----END OPENSSH PRIVATE KEY-----"
${indent(parts.containers ?? "MaxDispatchAttempts: 5", 6)}
      CloudVMs:
        ImageID: ami-00000000000000001
        DriverParameters:
          SecretAccessKey: ${secret}-aws
          SubnetID: subnet-a
${indent(parts.cloudVMs ?? "MaxInstances: 10", 8)}
    InstanceTypes:
${indent(parts.instanceTypes ?? "m5.large: {VCPUs: 2, RAM: 8GiB, Price: 0.1}", 6)}
${parts.extraClusters ?? ""}`;
}

const dir = mkdtempSync(join(tmpdir(), "hostile-config-"));
let files = 0;
function fileWith(text: string): string {
  const path = join(dir, `config-${++files}.yml`);
  writeFileSync(path, text);
  return path;
}

/** Loads `text` from a file; returns the ConfigError (fails the test if it loads or throws anything else). */
function loadError(text: string): ConfigError {
  const path = fileWith(text);
  let thrown: unknown;
  try {
    loadClusterConfig(path);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ConfigError);
  const err = thrown as ConfigError;
  expect(err.message).toContain(path);
  for (const text of [...errorTexts(err), JSON.stringify(err.issues)]) expect(text).not.toContain(secret);
  return err;
}

const paths = (err: ConfigError) => err.issues.map((i) => i.path).sort();

it("the unmodified file loads (so every failure below is the mutation's)", () => {
  const { config, ignored } = loadClusterConfig(fileWith(configYml()));
  expect(config.ClusterID).toBe("zzzzz");
  expect(config.Containers.CloudVMs.MaxInstances).toBe(10);
  expect(ignored).toEqual(expect.arrayContaining(["SystemRootToken", "Containers.DispatchPrivateKey"]));
});

describe("wrong units and impossible sizes name the key path", () => {
  it.each<[string, { instanceTypes?: string; containers?: string; cloudVMs?: string }, string, RegExp]>([
    [
      '"10 GiBs"',
      { instanceTypes: "m5.large: {VCPUs: 2, RAM: 10 GiBs}" },
      "InstanceTypes[m5.large].RAM",
      /invalid unit "GiBs"/,
    ],
    [
      '"1.5.3GB"',
      { instanceTypes: "m5.large: {VCPUs: 2, RAM: 1.5.3GB}" },
      "InstanceTypes[m5.large].RAM",
      /invalid byte size "1.5.3GB"/,
    ],
    [
      "a negative RAM",
      { instanceTypes: "m5.large: {VCPUs: 2, RAM: -8GiB}" },
      "InstanceTypes[m5.large].RAM",
      /must not be negative/,
    ],
    [
      "a negative byte count",
      { containers: "ReserveExtraRAM: -1" },
      "Containers.ReserveExtraRAM",
      /must not be negative/,
    ],
    ["a negative count", { cloudVMs: "MaxInstances: -3" }, "Containers.CloudVMs.MaxInstances", /must not be negative/],
    [
      "a negative price",
      { instanceTypes: "m5.large: {VCPUs: 2, Price: -0.1}" },
      "InstanceTypes[m5.large].Price",
      /must not be negative/,
    ],
    ["an overflowing count", { cloudVMs: "MaxInstances: 1e999" }, "Containers.CloudVMs.MaxInstances", /whole number/],
    [
      "VCPUs past 2^53",
      { instanceTypes: "m5.large: {VCPUs: 99999999999999999999}" },
      "InstanceTypes[m5.large].VCPUs",
      /whole number/,
    ],
    [
      "a duration without a unit",
      { cloudVMs: "TimeoutBooting: 600" },
      "Containers.CloudVMs.TimeoutBooting",
      /missing unit/,
    ],
    [
      "a fractional VCPUs",
      { instanceTypes: "m5.large: {VCPUs: 1.5}" },
      "InstanceTypes[m5.large].VCPUs",
      /whole number/,
    ],
  ])("%s", (_name, parts, path, message) => {
    const err = loadError(configYml(parts));
    expect(err.issues).toEqual([{ path, message: expect.stringMatching(message) }]);
  });
});

describe("the file's shape", () => {
  it("a typo in a key (MaxInstaces) is an error with a hint, not a silent default", () => {
    const err = loadError(configYml({ cloudVMs: "MaxInstaces: 10" }));
    expect(err.issues).toEqual([
      {
        path: "Containers.CloudVMs.MaxInstaces",
        message: "unknown configuration key (perhaps you meant MaxInstances?)",
      },
    ]);
  });

  it("InstanceTypes as a list gets upstream's message", () => {
    const err = loadError(configYml({ instanceTypes: "- {Name: m5.large, VCPUs: 2}" }));
    expect(err.issues).toEqual([
      { path: "InstanceTypes", message: expect.stringContaining("must be specified as a map, not an array") },
    ]);
  });

  it("a whole config.yml with two clusters must say which; naming one loads it", () => {
    const text = configYml({ extraClusters: "  yyyyy:\n    Containers: {MaxDispatchAttempts: 2}\n" });
    const err = loadError(text);
    expect(err.issues).toEqual([
      { path: "Clusters", message: expect.stringContaining("several clusters (zzzzz, yyyyy)") },
    ]);
    expect(loadClusterConfig(fileWith(text), { clusterId: "yyyyy" }).config.Containers.MaxDispatchAttempts).toBe(2);
  });

  it("every problem in one file is reported at once", () => {
    const err = loadError(
      configYml({
        containers: "MaxDispatchAttempts: lots\nReserveExtraRAM: 10 GiBs",
        cloudVMs: "MaxInstaces: 10\nPollInterval: soon",
        instanceTypes: "m5.large: {VCPUs: -2, RAM: 1.5.3GB}",
      }),
    );
    expect(paths(err)).toEqual([
      "Containers.CloudVMs.MaxInstaces",
      "Containers.CloudVMs.PollInterval",
      "Containers.MaxDispatchAttempts",
      "Containers.ReserveExtraRAM",
      "InstanceTypes[m5.large].RAM",
      "InstanceTypes[m5.large].VCPUs",
    ]);
  });
});

describe("YAML that is not a config", () => {
  it.each<[string, string, RegExp]>([
    ["a syntax error", `${configYml()}\n  : [unclosed\n`, /YAML error at line \d+/],
    [
      "tabs for indentation",
      configYml().replace("    InstanceTypes:", "\tInstanceTypes:"),
      /YAML error at line \d+, column \d+: Tabs/,
    ],
    ["a duplicate key", `${configYml()}\nClusters: {}\n`, /Map keys must be unique/],
    ["two documents", `${configYml()}\n---\nClusters: {}\n`, /multiple documents/],
    ["an empty file", "", /empty/],
    ["a file of comments only", "# config goes here\n\n", /empty/],
    ["a list", "- Clusters\n", /expected a map/],
    ["a binary value", configYml({ instanceTypes: "m5.large: !!binary aGVsbG8=" }), /unsupported YAML value type/],
    ["random bytes", Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 37) % 256)).toString("latin1"), /./],
  ])("%s", (_name, text, message) => {
    const err = loadError(text);
    expect(err.issues.length).toBeGreaterThan(0);
    expect(err.message).toMatch(message);
  });

  it("a YAML error quotes no line of the file (a line may hold a secret)", () => {
    const err = loadError(configYml().replace(`SystemRootToken: ${secret}`, `SystemRootToken: "${secret}`));
    expect(err.message).toMatch(/YAML error/);
  });
});

describe(`YAML aliases that expand a config past ${maxAliasExpansion} characters beyond its text are refused`, () => {
  /** A billion-laughs document: `levels` anchors, each a list of `width` aliases of the one before. */
  function laughs(levels: number, width: number, leaf = "lol"): string {
    const lines = [`l0: &l0 [${Array(width).fill(leaf).join(",")}]`];
    for (let i = 1; i < levels; i++)
      lines.push(
        `l${i}: &l${i} [${Array(width)
          .fill(`*l${i - 1}`)
          .join(",")}]`,
      );
    return `${lines.join("\n")}\n`;
  }
  const aliasMessage = /YAML aliases expand the configuration too far .*"billion laughs"/;

  it("a billion laughs (10 levels of 10) fails at once with a clear error naming the file", () => {
    const err = loadError(laughs(10, 10));
    expect(err.issues).toEqual([{ path: "", message: expect.stringMatching(aliasMessage) }]);
  });

  it("the same bomb inside a real config.yml, in an ignored section, fails too", () => {
    const bomb = laughs(9, 9).replace(/^/gm, "      ").trimEnd();
    const err = loadError(configYml().replace("    Collections:\n", `    API:\n${bomb}\n    Collections:\n`));
    expect(err.message).toMatch(aliasMessage);
  });

  it("few aliases of a large value (a 64 KiB string used 20 times) are refused by size", () => {
    const big = "x".repeat(64 * 1024);
    const err = loadError(
      `${configYml()}\n    API:\n      Big: &big "${big}"\n      Copies: [${Array(20).fill("*big").join(", ")}]\n`,
    );
    expect(err.message).toMatch(aliasMessage);
  });

  it("a config that shares a settings block among many instance types with aliases still loads", () => {
    const types = Array.from({ length: 200 }, (_, i) => `t${i}: {<<: *base, VCPUs: ${1 + (i % 16)}}`).join("\n");
    const text = configYml({ instanceTypes: `base: &base {RAM: 8GiB, Price: 0.1, AddedScratch: 50GiB}\n${types}` });
    const { config } = loadClusterConfig(fileWith(text));
    expect(Object.keys(config.InstanceTypes)).toHaveLength(201);
    expect(config.InstanceTypes.t7).toMatchObject({ VCPUs: 8, RAM: 8 * 2 ** 30, Price: 0.1 });
  });

  it("the expansion allowed beyond the text is 1 MiB, and yaml's own alias count 1000", () => {
    expect(maxAliasExpansion).toBe(2 ** 20);
    expect(maxAliasCount).toBe(1000);
  });
});

describe("keys that are JavaScript's own names are keys like any other", () => {
  it("Containers.__proto__ is an unknown key, not a way to set Containers' settings", () => {
    const err = loadError(configYml({ containers: "__proto__: {MaxDispatchAttempts: 1}" }));
    expect(err.issues).toEqual([
      { path: "Containers.__proto__", message: expect.stringContaining("unknown configuration key") },
    ]);
  });

  it("an instance type named __proto__ is not silently dropped", () => {
    const text = configYml({ instanceTypes: "__proto__: {VCPUs: 2, RAM: 8GiB, Price: 0.1}" });
    let types: string[] | undefined;
    let issuePaths: string[] = [];
    try {
      types = Object.keys(parseClusterConfig(text).config.InstanceTypes);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      issuePaths = err.issues.map((i) => i.path);
    }
    // Either outcome is fine: a type of that name, or an error naming it. Vanishing is not.
    expect(types?.includes("__proto__") === true || issuePaths.includes("InstanceTypes.__proto__")).toBe(true);
  });

  it("instance types named constructor and toString load as types", () => {
    const { config } = loadClusterConfig(
      fileWith(configYml({ instanceTypes: "constructor: {VCPUs: 1}\ntoString: {VCPUs: 2}" })),
    );
    expect(Object.keys(config.InstanceTypes).sort()).toEqual(["constructor", "toString"]);
    expect(new Map(Object.entries(config.InstanceTypes)).get("toString")?.VCPUs).toBe(2);
  });
});

describe("DISPATCH_CONFIG at cold start", () => {
  it("a directory instead of a file is a ConfigError naming DISPATCH_CONFIG", () => {
    let thrown: unknown;
    try {
      configFromEnv({ DISPATCH_CONFIG: dir });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).issues[0]?.path).toBe("DISPATCH_CONFIG");
  });

  it("a bad file names the file and the key, never the secrets beside it", () => {
    const path = fileWith(configYml({ cloudVMs: "MaxInstances: many" }));
    let thrown: unknown;
    try {
      configFromEnv({ DISPATCH_CONFIG: path });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const err = thrown as ConfigError;
    expect(err.message).toContain(path);
    expect(err.message).toContain("Containers.CloudVMs.MaxInstances");
    for (const text of errorTexts(err)) expect(text).not.toContain(secret);
  });
});
