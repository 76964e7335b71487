import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../lib/config/errors.js";
import { configFromEnv, loadClusterConfig } from "../../lib/config/load.js";
import {
  productionClusterIds,
  productionConfig,
  productionSecretNeedles,
  productionSecretValues,
} from "../support/production-config.js";

/*
 * A config.yml as a production cluster holds it (test/support/production-config.ts): upstream's
 * top-level keys, three clusters, every section and every secret. The dispatcher reads the one
 * cluster it is deployed for, reports what it does not use, and keeps no secret.
 */

const fixture = productionConfig();
const file = join(mkdtempSync(join(tmpdir(), "production-config-")), "config.yml");
writeFileSync(file, fixture.text);

const count = (text: string, needle: string) => text.split(needle).length - 1;

describe("the loader reads the cluster asked for from a production config.yml", () => {
  it.each(productionClusterIds)("cluster %s: its own image, limits and instance types", (clusterId) => {
    const { config, warnings } = loadClusterConfig(file, { clusterId });
    const facts = fixture.clusters[clusterId];
    expect(config.ClusterID).toBe(clusterId);
    expect(config.Containers.CloudVMs.ImageID).toBe(facts?.imageId);
    expect(config.Containers.CloudVMs.MaxInstances).toBe(facts?.maxInstances);
    expect(Object.keys(config.InstanceTypes)).toEqual(facts?.instanceTypes);
    expect(config.Containers.MaxDispatchAttempts).toBe(5);
    expect(config.Containers.CloudVMs.DriverParameters.SubnetID).toHaveLength(2);
    expect(config.Containers.CloudVMs.DriverParameters.SecurityGroupIDs).toHaveLength(1);
    expect(warnings).toEqual([]);
  });

  it("configFromEnv loads the deployment's cluster (ARVADOS_CLUSTER_ID) from it", () => {
    expect(configFromEnv({ DISPATCH_CONFIG: file, ARVADOS_CLUSTER_ID: "x2stg" }).config.ClusterID).toBe("x2stg");
  });

  it("without a cluster id the file's several clusters are an error naming them", () => {
    expect(() => loadClusterConfig(file)).toThrow(ConfigError);
    expect(() => loadClusterConfig(file)).toThrow(/several clusters \(x1prd, x2stg, x3fed\)/);
  });
});

describe("keys the dispatcher does not use are reported as ignored, without failing", () => {
  it("upstream's top-level keys, the other sections and the unused Containers keys", () => {
    const { ignored } = loadClusterConfig(file, { clusterId: "x1prd" });
    expect(ignored).toEqual(
      expect.arrayContaining([
        "AutoReloadConfig",
        "SourceTimestamp",
        "SourceSHA256",
        "SystemRootToken",
        "ManagementToken",
        "Services",
        "PostgreSQL",
        "API",
        "Users",
        "AuditLogs",
        "SystemLogs",
        "Collections",
        "Login",
        "TLS",
        "StorageClasses",
        "Volumes",
        "RemoteClusters",
        "Workbench",
        "Containers.DispatchPrivateKey",
        "Containers.DefaultKeepCacheRAM",
        "Containers.SLURM",
        "Containers.CloudVMs.BootProbeCommand",
        "Containers.CloudVMs.DriverParameters.AccessKeyID",
        "Containers.CloudVMs.DriverParameters.SecretAccessKey",
      ]),
    );
    // Each once, and nothing the dispatcher reads.
    expect(new Set(ignored).size).toBe(ignored.length);
    expect(ignored).not.toContain("Containers.CloudVMs.ImageID");
  });

  it("what the loader returns holds none of the file's secrets", () => {
    for (const clusterId of productionClusterIds) {
      const loaded = JSON.stringify(loadClusterConfig(file, { clusterId }));
      for (const needle of productionSecretNeedles(fixture)) expect(loaded).not.toContain(needle);
    }
  });
});

describe("the fixture is fit for a secret scan: every secret distinct and findable", () => {
  it("holds every secret upstream defines, for every cluster", () => {
    for (const clusterId of productionClusterIds) {
      const paths = fixture.secrets.filter((s) => s.clusterId === clusterId).map((s) => s.path);
      expect(paths).toEqual(
        expect.arrayContaining([
          "SystemRootToken",
          "ManagementToken",
          "PostgreSQL.Connection.password",
          "Users.AnonymousUserToken",
          "Collections.BlobSigningKey",
          "Login.Google.ClientSecret",
          "Login.OpenIDConnect.ClientSecret",
          "Login.LDAP.SearchBindPassword",
          "Login.Test.Users.alice.Password",
          "Containers.DispatchPrivateKey",
          "Containers.CloudVMs.DriverParameters.AccessKeyID",
          "Containers.CloudVMs.DriverParameters.SecretAccessKey",
          `Volumes.${clusterId}-nyw5e-000000000000000.DriverParameters.SecretAccessKey`,
          `Volumes.${clusterId}-nyw5e-000000000000001.DriverParameters.AccessKeyID`,
        ]),
      );
    }
  });

  it("every secret value is distinct, and each needle appears exactly once in the text", () => {
    const values = productionSecretValues(fixture);
    expect(new Set(values).size).toBe(values.length);
    for (const needle of productionSecretNeedles(fixture)) expect(count(fixture.text, needle)).toBe(1);
  });

  it("tokens and signing keys have the shape upstream's loader accepts (32+ letters and digits)", () => {
    const tokens = fixture.secrets.filter((s) =>
      /^(SystemRootToken|ManagementToken|Users\.AnonymousUserToken|Collections\.BlobSigningKey)$/.test(s.path),
    );
    expect(tokens).toHaveLength(4 * productionClusterIds.length);
    for (const { value } of tokens) expect(value).toMatch(/^[a-zA-Z0-9]{32,}$/);
  });

  it("the dispatch key is an OpenSSH private key in PEM, written as a multi-line block", () => {
    const key = fixture.secrets.find((s) => s.path === "Containers.DispatchPrivateKey");
    expect(key?.value).toMatch(
      /^-----BEGIN OPENSSH PRIVATE KEY-----\n([A-Za-z0-9+/=]{1,70}\n)+-----END OPENSSH PRIVATE KEY-----\n$/,
    );
    expect(key?.needles.length).toBeGreaterThan(3);
  });

  it("is deterministic: the same cluster ids give the same text", () => {
    expect(productionConfig().text).toBe(fixture.text);
    expect(productionConfig(["abcde"]).clusterIds).toEqual(["abcde"]);
  });
});
