import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import type { BootDeployment } from "../../lib/cloud/launch-user-data.js";
import { WorkerUserDataTooLargeError } from "../../lib/cloud/worker-agent.js";
import { parseUserDataAssignments } from "../../lib/cloud/worker-channel.js";
import {
  checkWorkerLaunchConfig,
  workerAssignmentRoom,
  workerLaunchUserData,
} from "../../lib/cloud/worker-launch-user-data.js";
import { ConfigError } from "../../lib/config/errors.js";
import type { ClusterConfig } from "../../lib/config/types.js";
import { testClusterConfig } from "../support/cluster-config.js";
import { containerUuid } from "../support/fixtures.js";
import { posixShell } from "../support/worker-agent-harness.js";

const deployment: BootDeployment = {
  apiHost: "zzzzz.example.org",
  apiHostInsecure: false,
  tokenParameterName: "/arvados/zzzzz/dispatch-token",
  region: "eu-west-1",
};

function typeOf(config: ClusterConfig, preemptible: boolean) {
  const found = Object.values(config.InstanceTypes).find((t) => t.Preemptible === preemptible);
  if (found === undefined) throw new Error("the test config lacks such a type");
  return found;
}

/** A shell variable's value as the script assigns it (single-quoted). */
function assigned(script: string, name: string): string {
  const line = script.split("\n").find((l) => l.startsWith(`${name}=`)) ?? "";
  return execFileSync(posixShell, ["-c", `${line}; printf '%s' "$${name}"`]).toString("utf8");
}

describe("a worker launch's user data is the agent with the config's crunch-run settings and the launch's assignments", () => {
  it("runs CrunchRunCommand with RuntimeEngine and CrunchRunArgumentsList, tags named by TagKeyPrefix", () => {
    const config = testClusterConfig();
    const script = workerLaunchUserData(config, deployment, {
      instanceType: typeOf(config, false),
      instanceSecret: "f".repeat(40),
      assignments: [
        [{ containerUuid: containerUuid(1), attempt: 1 }],
        [{ containerUuid: containerUuid(2), attempt: 2 }],
      ],
    });
    expect(script).toContain(
      `crunch_run_start() { '${config.Containers.CrunchRunCommand}' --detach --stdin-config '--runtime-engine=${config.Containers.RuntimeEngine}'`,
    );
    expect(assigned(script, "tag_prefix")).toBe(`${config.Containers.CloudVMs.TagKeyPrefix}Container:`);
    expect(assigned(script, "ssm_name")).toBe("/arvados/zzzzz/dispatch-token");
    expect(parseUserDataAssignments(script, 1)).toEqual([{ containerUuid: containerUuid(2), attempt: 2 }]);
    expect(() => execFileSync(posixShell, ["-n", "-c", script])).not.toThrow();
  });

  it("asks for EC2SpotCheck on a preemptible type only", () => {
    const config = testClusterConfig();
    const tail = (preemptible: boolean) =>
      assigned(
        workerLaunchUserData(config, deployment, {
          instanceType: typeOf(config, preemptible),
          instanceSecret: "f".repeat(40),
          assignments: [],
        }),
        "env_json_2",
      );
    expect(tail(true)).toBe('"},"EC2SpotCheck":true}');
    expect(tail(false)).toBe('"}}');
  });

  it("is byte-identical for an instance type whose keys come back in another order (a retried call)", () => {
    const config = testClusterConfig();
    const type = typeOf(config, false);
    const reordered = Object.fromEntries(Object.entries(type).reverse()) as typeof type;
    const launch = (instanceType: typeof type) =>
      workerLaunchUserData(config, deployment, { instanceType, instanceSecret: "f".repeat(40), assignments: [] });
    expect(launch(reordered)).toBe(launch(type));
  });
});

describe("a config leaves a known room for assignments in every worker launch", () => {
  it("fits assignments that take exactly the room, for every instance type, and refuses one container more", () => {
    const config = testClusterConfig();
    const room = workerAssignmentRoom(config, deployment) ?? 0;
    const fits = Math.floor((room - "#arvados-run 0\n".length) / ` ${containerUuid(0)}:1`.length);
    const line = (n: number) => [
      Array.from({ length: n }, (_, i) => ({ containerUuid: containerUuid(i), attempt: 1 })),
    ];
    for (const instanceType of Object.values(config.InstanceTypes)) {
      expect(() =>
        workerLaunchUserData(config, deployment, {
          instanceType,
          instanceSecret: "f".repeat(40),
          assignments: line(fits),
        }),
      ).not.toThrow();
    }
    const tightest = Object.values(config.InstanceTypes).some((instanceType) => {
      try {
        workerLaunchUserData(config, deployment, {
          instanceType,
          instanceSecret: "f".repeat(40),
          assignments: line(fits + 1),
        });
        return false;
      } catch (err) {
        return err instanceof WorkerUserDataTooLargeError;
      }
    });
    expect(tightest).toBe(true);
  });

  it("counts deployment values not known yet at their longest, and goes negative when the agent alone cannot fit", () => {
    const config = testClusterConfig();
    expect(workerAssignmentRoom(config) ?? 0).toBeLessThan((workerAssignmentRoom(config, deployment) ?? 0) - 1000);
    const huge = {
      ...config,
      Containers: {
        ...config.Containers,
        CloudVMs: { ...config.Containers.CloudVMs, InstanceInitCommand: `: ${"x".repeat(16_000)}` },
      },
    };
    expect(workerAssignmentRoom(huge, deployment) ?? 0).toBeLessThan(0);
    expect(workerAssignmentRoom({ ...config, InstanceTypes: {} })).toBeUndefined();
  });
});

describe("a config is checked for what worker launches need: IMDS-safe tag keys and room for one container", () => {
  function refusal(config: ClusterConfig): ConfigError {
    try {
      checkWorkerLaunchConfig(config, deployment, "config.yml");
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error("the config was accepted");
  }
  const withCloudVMs = (
    config: ClusterConfig,
    patch: Partial<ClusterConfig["Containers"]["CloudVMs"]>,
  ): ClusterConfig => ({
    ...config,
    Containers: { ...config.Containers, CloudVMs: { ...config.Containers.CloudVMs, ...patch } },
  });

  it("accepts the test cluster's config", () => {
    expect(() => checkWorkerLaunchConfig(testClusterConfig(), deployment)).not.toThrow();
  });

  it("names each ResourceTags key with a space or a slash, and a TagKeyPrefix that makes such keys", () => {
    const config = withCloudVMs(testClusterConfig(), {
      ResourceTags: { "Cost Centre": "1", "team/owner": "x", ok: "y" },
      TagKeyPrefix: "Arvados Dev",
    });
    expect(refusal(config).issues.map((i) => i.path)).toEqual([
      "Containers.CloudVMs.ResourceTags[Cost Centre]",
      "Containers.CloudVMs.ResourceTags.team/owner",
      "Containers.CloudVMs.TagKeyPrefix",
    ]);
  });

  it("refuses an InstanceInitCommand that leaves no room for one assignment", () => {
    const config = withCloudVMs(testClusterConfig(), { InstanceInitCommand: `: ${"x".repeat(11_000)}` });
    expect(refusal(config).issues[0]?.path).toBe("Containers.CloudVMs.InstanceInitCommand");
  });
});
