import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  type BootDeployment,
  checkUserDataFits,
  largestUserData,
  launchUserData,
  longestBootDeployment,
  maxUserDataBytes,
  UserDataTooLargeError,
} from "../../lib/cloud/launch-user-data.js";
import { ConfigError } from "../../lib/config/errors.js";
import type { ClusterConfig } from "../../lib/config/types.js";
import { instanceSecretFor } from "../../lib/cloud/ec2-instance-cloud.js";
import { dispatchRuntimeFromEnv } from "../../lib/runtime/environment.js";
import { testClusterConfig, testClusterConfigYaml } from "../support/cluster-config.js";
import { containerUuid } from "../support/fixtures.js";

const deployment: BootDeployment = {
  apiHost: "zzzzz.example.org",
  apiHostInsecure: false,
  tokenParameterName: "/arvados/zzzzz/dispatch-token",
  region: "eu-west-1",
};

/** The test cluster's config with some `Containers` (and CloudVMs) settings replaced. */
function configWith(patch: {
  initCommand?: string;
  crunchRunArgs?: string[];
  crunchRunCommand?: string;
}): ClusterConfig {
  const config = testClusterConfig();
  const { Containers } = config;
  return {
    ...config,
    Containers: {
      ...Containers,
      ...(patch.crunchRunArgs === undefined ? {} : { CrunchRunArgumentsList: patch.crunchRunArgs }),
      ...(patch.crunchRunCommand === undefined ? {} : { CrunchRunCommand: patch.crunchRunCommand }),
      CloudVMs: {
        ...Containers.CloudVMs,
        InstanceInitCommand: patch.initCommand ?? Containers.CloudVMs.InstanceInitCommand,
      },
    },
  };
}

function refusal(config: ClusterConfig, deploy: Partial<BootDeployment> = deployment): UserDataTooLargeError {
  try {
    checkUserDataFits(config, deploy, "config.yml");
  } catch (err) {
    expect(err).toBeInstanceOf(UserDataTooLargeError);
    return err as UserDataTooLargeError;
  }
  throw new Error("the config was accepted");
}

describe("the largest user data is what a launch of the type with the longest JSON sends", () => {
  it("equals, byte for byte, the largest of every type's real launch", () => {
    const config = testClusterConfig();
    const sizes = Object.values(config.InstanceTypes).map((instanceType) => {
      const launch = {
        containerUuid: containerUuid(7),
        instanceType,
        instanceSecret: instanceSecretFor("zzzzz-gj3su-000000000000000", {
          containerUuid: containerUuid(7),
          lockCount: 1,
        }),
      };
      return Buffer.byteLength(launchUserData(config, deployment, launch));
    });
    expect(largestUserData(config, deployment)?.bytes).toBe(Math.max(...sizes));
  });

  it("counts deployment values not known yet at their longest", () => {
    const config = testClusterConfig();
    const known = largestUserData(config, deployment)?.bytes ?? 0;
    const unknown = largestUserData(config, {})?.bytes ?? 0;
    expect(unknown).toBe(largestUserData(config, longestBootDeployment)?.bytes);
    expect(unknown).toBeGreaterThan(known + 1000);
  });

  it("a config without instance types launches nothing and has no largest user data", () => {
    expect(largestUserData({ ...testClusterConfig(), InstanceTypes: {} })).toBeUndefined();
  });
});

describe(`user data over EC2's ${maxUserDataBytes} bytes is refused with a ConfigError naming the keys that make it large`, () => {
  it("the limit is EC2's 16 KB, counted before base64", () => {
    expect(maxUserDataBytes).toBe(16_384);
  });

  it("a config whose largest user data is exactly the limit is accepted; one byte more is refused", () => {
    const base = largestUserData(configWith({ initCommand: "" }), deployment)?.bytes ?? 0;
    const fits = configWith({ initCommand: "x".repeat(maxUserDataBytes - base) });
    expect(largestUserData(fits, deployment)?.bytes).toBe(maxUserDataBytes);
    expect(() => checkUserDataFits(fits, deployment)).not.toThrow();
    const err = refusal(configWith({ initCommand: "x".repeat(maxUserDataBytes - base + 1) }));
    expect(err).toMatchObject({ bytes: maxUserDataBytes + 1, limitBytes: maxUserDataBytes });
  });

  it("a 16 KB InstanceInitCommand: named first, with its size, in a ConfigError naming the file", () => {
    const err = refusal(configWith({ initCommand: `# ${"setup ".repeat(2800)}` }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.name).toBe("UserDataTooLargeError");
    expect(err.issues[0]?.message).toMatch(
      /EC2 user data of a launch would be up to \d+ bytes, over EC2's limit of 16384 bytes \(counted before base64\)/,
    );
    expect(err.issues[1]).toEqual({ path: "Containers.CloudVMs.InstanceInitCommand", message: "16802 bytes" });
    expect(err.message).toContain("(config.yml)");
    expect(err.message).toContain("Containers.CloudVMs.InstanceInitCommand: 16802 bytes");
  });

  it("a long CrunchRunArgumentsList and CrunchRunCommand are named with the instance type's JSON", () => {
    const args = Array.from({ length: 400 }, (_, i) => `--cgroup-parent-subsystem=cpuset-${i}`);
    const err = refusal(
      configWith({ crunchRunArgs: args, crunchRunCommand: `/opt/arvados/${"bin/".repeat(100)}crunch-run` }),
    );
    const keys = err.issues.slice(1).map((i) => i.path);
    expect(keys[0]).toBe("Containers.CrunchRunArgumentsList");
    expect(keys).toEqual(
      expect.arrayContaining(["Containers.CrunchRunCommand", "InstanceTypes.gpu", "ARVADOS_API_HOST"]),
    );
    expect(keys).not.toContain("Containers.CloudVMs.InstanceInitCommand");
  });

  it("at build time, the deployment values it assumed at their longest say so", () => {
    const base = largestUserData(configWith({ initCommand: "" }), deployment)?.bytes ?? 0;
    // Fits with the real deployment, not with the longest one.
    const config = configWith({ initCommand: "x".repeat(maxUserDataBytes - base) });
    expect(() => checkUserDataFits(config, deployment)).not.toThrow();
    const err = refusal(config, {});
    expect(err.issues).toContainEqual({
      path: "ARVADOS_API_TOKEN_PARAMETER",
      message: "1013 bytes (not known yet: counted at its longest)",
    });
  });

  it("a NUL byte, which no boot script can carry, is a ConfigError naming the key", () => {
    expect(() => checkUserDataFits(configWith({ crunchRunArgs: ["a\0b"] }), deployment)).toThrow(
      expect.objectContaining({
        name: "ConfigError",
        issues: [expect.objectContaining({ path: "Containers.CrunchRunArgumentsList" })],
      }),
    );
  });
});

describe("the functions refuse such a config at cold start, before any client is made", () => {
  it("dispatchRuntimeFromEnv rejects with UserDataTooLargeError naming DISPATCH_CONFIG's file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "user-data-limit-"));
    const file = join(dir, "config.yml");
    writeFileSync(file, testClusterConfigYaml(`InstanceInitCommand: "${"x".repeat(maxUserDataBytes)}"`));
    const env = {
      DISPATCH_CONFIG: file,
      ARVADOS_API_HOST: "zzzzz.example.org",
      QUEUE_TABLE_NAME: "unused",
      AWS_REGION: "eu-west-1",
    };
    const err = await dispatchRuntimeFromEnv(env).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserDataTooLargeError);
    expect((err as Error).message).toContain(file);
    expect((err as UserDataTooLargeError).issues[1]?.path).toBe("Containers.CloudVMs.InstanceInitCommand");
  });
});
