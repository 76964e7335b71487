import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../lib/config/errors.js";
import { parseClusterConfig } from "../../lib/config/load.js";
import { clusterKeySpec } from "../../lib/config/schema.js";
import type { KeySpec } from "../../lib/config/key-check.js";
import { packConfig } from "../../scripts/packed-config.js";
import { testClusterConfigYaml } from "../support/cluster-config.js";
import { dummySecrets, secretConfigYaml } from "../support/secret-config.js";

const exampleConfig = readFileSync(new URL("../../local/default-config.yml", import.meta.url), "utf8");

/** Every key path of a parsed JSON tree that `spec` does not read. */
function unreadKeys(node: unknown, spec: KeySpec, path: string[] = []): string[] {
  if (typeof node !== "object" || node === null || Array.isArray(node)) return [];
  return Object.entries(node).flatMap(([key, value]) => {
    if (spec.kind === "map") return unreadKeys(value, spec.entry, [...path, key]);
    if (!spec.used.includes(key)) return [[...path, key].join(".")];
    const child = spec.children?.[key];
    return child === undefined ? [] : unreadKeys(value, child, [...path, key]);
  });
}

describe("the packed config loads to exactly the config the original file gives", () => {
  it.each([
    ["a whole config.yml full of secrets, two clusters", secretConfigYaml(), "xyzzy"],
    ["the local runner's example config", exampleConfig, undefined],
    ["the integration tests' config", testClusterConfigYaml("MaxInstances: 2"), undefined],
    ["a bare cluster section", "Containers:\n  CloudVMs:\n    ImageID: ami-1\n    TagKeyPrefix: 22\n", "abcde"],
  ])("%s", (_name, text, clusterId) => {
    const opts = clusterId === undefined ? {} : { clusterId };
    const packed = packConfig(text, opts);
    expect(JSON.parse(packed.json)).toBeTypeOf("object");
    expect(parseClusterConfig(packed.json, opts).config).toEqual(parseClusterConfig(text, opts).config);
    expect(packed.loaded.config).toEqual(parseClusterConfig(text, opts).config);
  });

  it("keeps a string setting's unquoted number as written (HardwareTarget: 7.5, TagKeyPrefix: 22)", () => {
    const packed = packConfig(secretConfigYaml(), { clusterId: "xyzzy" });
    expect(parseClusterConfig(packed.json).config.InstanceTypes["g4dn.xlarge"]?.GPU.HardwareTarget).toBe("7.5");
    const bare = packConfig("Containers:\n  CloudVMs:\n    TagKeyPrefix: 22\n");
    expect(parseClusterConfig(bare.json).config.Containers.CloudVMs.TagKeyPrefix).toBe("22");
  });

  it("refuses, naming the key, a value whose YAML spelling JSON cannot keep (a hex number where a string belongs)", () => {
    const failure = (() => {
      try {
        return packConfig("Containers:\n  CloudVMs:\n    TagKeyPrefix: 0x1F\n", { source: "config/abcde.yml" });
      } catch (err) {
        return err;
      }
    })();
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as ConfigError).issues).toEqual([
      {
        path: "Containers.CloudVMs.TagKeyPrefix",
        message: "this value would change when packed as JSON: quote it in the file",
      },
    ]);
  });
});

describe("only the keys the functions read are packed, of the one cluster they load", () => {
  it("holds Clusters.<id> alone, with no key outside Containers and InstanceTypes' used keys", () => {
    const packed = JSON.parse(packConfig(secretConfigYaml(), { clusterId: "xyzzy" }).json) as {
      Clusters: Record<string, unknown>;
    };
    expect(Object.keys(packed.Clusters)).toEqual(["xyzzy"]);
    expect(unreadKeys(packed.Clusters.xyzzy, clusterKeySpec)).toEqual([]);
  });

  it("holds none of the file's secrets", () => {
    const json = packConfig(secretConfigYaml(), { clusterId: "xyzzy" }).json;
    for (const [path, value] of Object.entries(dummySecrets)) expect(json, path).not.toContain(value);
  });
});

describe("the build is told which secrets were left out, by key path and never by value", () => {
  it("names each secret-bearing key of the file, the other cluster's too, and no setting merely about tokens", () => {
    const packed = packConfig(secretConfigYaml(), { clusterId: "xyzzy" });
    expect([...packed.droppedSecrets].sort()).toEqual(Object.keys(dummySecrets).sort());
    expect(packed.dropped).toContain("API");
    expect(packed.droppedSecrets.join()).not.toContain("MaxTokenLifetime");
    const said = JSON.stringify([packed.dropped, packed.droppedSecrets]);
    for (const value of Object.values(dummySecrets)) expect(said).not.toContain(value);
  });

  it("names nothing when the file holds only what the functions read", () => {
    expect(packConfig(exampleConfig)).toMatchObject({ dropped: [], droppedSecrets: [] });
  });
});
