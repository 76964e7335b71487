import { createHash } from "node:crypto";
import { stringify } from "yaml";

/*
 * A config.yml shaped like a production cluster's: the top-level keys upstream's loader accepts
 * (Clusters, AutoReloadConfig, and SourceTimestamp/SourceSHA256 as `arvados-server config-dump`
 * writes them), several clusters, each with a full Services section, PostgreSQL, API, Users,
 * Login, TLS, Collections, Volumes, StorageClasses, RemoteClusters, Workbench, and every secret
 * upstream's config.default.yml defines set to a distinctive dummy value. Written here from the
 * key names of upstream's config.default.yml, not copied from it.
 *
 * Secrets have the shapes upstream accepts (tokens and keys of 32+ letters and digits, AWS key
 * pairs, an OpenSSH private key in PEM), each unique and found exactly once in the text, so a
 * secret scan can look for every value in `secrets`.
 */

/** One secret in the file: its cluster, its key path in the cluster section, its value. */
export interface ProductionSecret {
  clusterId: string;
  path: string;
  value: string;
  /**
   * What a scan of the file, or of anything that copied it, should look for: the value when it
   * is one line; each line of a multi-line value (a PEM block is written as an indented YAML
   * block, so the whole value never appears verbatim in the text).
   */
  needles: readonly string[];
}

/** The settings of one cluster the dispatcher reads, to tell which cluster a loader picked. */
export interface ProductionClusterFacts {
  imageId: string;
  maxInstances: number;
  instanceTypes: readonly string[];
}

/** A production-shaped config file and what is in it. */
export interface ProductionConfig {
  /** The YAML text of the whole file. */
  text: string;
  clusterIds: readonly string[];
  /** Every secret in `text`, in file order. */
  secrets: readonly ProductionSecret[];
  /** Per cluster id: what the dispatcher should read from its section. */
  clusters: Readonly<Record<string, ProductionClusterFacts>>;
}

/** Default cluster ids: a production cluster, a staging one, a federation peer. */
export const productionClusterIds = ["x1prd", "x2stg", "x3fed"] as const;

/** Deterministic hex for `seed`, as long as asked (a SHA-256 chain). */
function hex(seed: string, length: number): string {
  let out = "";
  for (let i = 0; out.length < length; i++) out += createHash("sha256").update(`${seed}/${i}`).digest("hex");
  return out.slice(0, length);
}

/** Letters and digits only, as upstream's checkToken requires of tokens and signing keys. */
function alnumSecret(clusterId: string, name: string, length = 50): string {
  const prefix = `fixture${name.replace(/[^A-Za-z0-9]/g, "")}${clusterId}`;
  return `${prefix}${hex(`${clusterId}:${name}`, Math.max(0, length - prefix.length))}`;
}

/** An AWS access key pair: AKIA + 16 upper-case characters, a 40-character secret. */
function awsKeyPair(clusterId: string, name: string): { id: string; secret: string } {
  const id = `AKIA${hex(`${clusterId}:${name}:id`, 16).toUpperCase()}`;
  const raw = createHash("sha256").update(`${clusterId}:${name}:secret`).digest();
  const secret = `Fx${Buffer.concat([raw, raw]).toString("base64").replace(/[+/=]/g, "").slice(0, 38)}`;
  return { id, secret };
}

/** An OpenSSH private key block (RFC 4716 armour, base64 body in 70-column lines), dummy content. */
function opensshPrivateKey(clusterId: string): string {
  const body = Buffer.concat([
    Buffer.from("openssh-key-v1\0", "binary"),
    Buffer.from(`fixture dispatch key for ${clusterId} `),
    Buffer.from(hex(`${clusterId}:DispatchPrivateKey`, 600), "hex"),
  ]).toString("base64");
  const lines = body.match(/.{1,70}/g) ?? [];
  return ["-----BEGIN OPENSSH PRIVATE KEY-----", ...lines, "-----END OPENSSH PRIVATE KEY-----", ""].join("\n");
}

/** One cluster's section, with its secrets appended to `secrets`. */
function clusterSection(
  clusterId: string,
  index: number,
  all: readonly string[],
  secrets: ProductionSecret[],
): {
  section: Record<string, unknown>;
  facts: ProductionClusterFacts;
} {
  const secret = <T extends string>(path: string, value: T): T => {
    secrets.push({
      clusterId,
      path,
      value,
      needles: value.split("\n").filter((line) => line !== "" && !line.startsWith("-----")),
    });
    return value;
  };
  const domain = `${clusterId}.example.org`;
  const internal = (host: string, port: number) => ({ [`http://${host}.${clusterId}.internal:${port}`]: {} });
  const service = (host: string, port: number, external = "") => ({
    InternalURLs: internal(host, port),
    ExternalURL: external,
  });
  const dispatchAws = awsKeyPair(clusterId, "dispatch");
  const keepAws = [awsKeyPair(clusterId, "keep0"), awsKeyPair(clusterId, "keep1")];
  const imageId = `ami-0${hex(`${clusterId}:ami`, 16)}`;
  const maxInstances = 64 + 100 * index;
  const instanceTypes: Record<string, unknown> = {
    "m5.large": { ProviderType: "m5.large", VCPUs: 2, RAM: "8GiB", AddedScratch: "100GB", Price: 0.096 },
    "m5.2xlarge": { ProviderType: "m5.2xlarge", VCPUs: 8, RAM: "32GiB", AddedScratch: "200GB", Price: 0.384 },
    "c5d.4xlarge": { ProviderType: "c5d.4xlarge", VCPUs: 16, RAM: "32GiB", IncludedScratch: "400GB", Price: 0.768 },
    "r5.8xlarge": { ProviderType: "r5.8xlarge", VCPUs: 32, RAM: "256GiB", AddedScratch: "1TB", Price: 2.016 },
    "m5.large.spot": {
      ProviderType: "m5.large",
      VCPUs: 2,
      RAM: "8GiB",
      AddedScratch: "100GB",
      Price: 0.05,
      Preemptible: true,
    },
    "g4dn.xlarge": {
      ProviderType: "g4dn.xlarge",
      VCPUs: 4,
      RAM: "16GiB",
      IncludedScratch: "125GB",
      Price: 0.526,
      GPU: { Stack: "cuda", DriverVersion: "12.4", HardwareTarget: "7.5", DeviceCount: 1, VRAM: "16GiB" },
    },
  };
  // Clusters differ in the types they offer, so a loader that picked the wrong one shows it.
  const offered = Object.fromEntries(Object.entries(instanceTypes).slice(0, 3 + index));
  const section = {
    SystemRootToken: secret("SystemRootToken", alnumSecret(clusterId, "SystemRootToken")),
    ManagementToken: secret("ManagementToken", alnumSecret(clusterId, "ManagementToken")),
    Services: {
      RailsAPI: service("api", 8004),
      Controller: service("api", 8003, `https://${domain}`),
      Websocket: service("ws", 8005, `wss://ws.${domain}/websocket`),
      Keepbalance: service("keep", 9019),
      DispatchCloud: service("dispatch", 9006),
      DispatchLSF: { InternalURLs: {}, ExternalURL: "" },
      DispatchSLURM: { InternalURLs: {}, ExternalURL: "" },
      Keepproxy: service("keep", 25107, `https://keep.${domain}`),
      WebDAV: service("keep", 9002, `https://*.collections.${domain}`),
      WebDAVDownload: service("keep", 9002, `https://download.${domain}`),
      Keepstore: {
        InternalURLs: {
          [`http://keep0.${clusterId}.internal:25107`]: { Rendezvous: hex(`${clusterId}:keep0`, 15) },
          [`http://keep1.${clusterId}.internal:25107`]: { Rendezvous: hex(`${clusterId}:keep1`, 15) },
        },
        ExternalURL: "",
      },
      Composer: { InternalURLs: {}, ExternalURL: "" },
      WebShell: service("shell", 4200, `https://webshell.${domain}`),
      Workbench1: { InternalURLs: {}, ExternalURL: "" },
      Workbench2: service("workbench", 443, `https://workbench.${domain}`),
      Health: service("api", 8011),
      ContainerWebServices: service("api", 8443, `https://*.containers.${domain}`),
    },
    PostgreSQL: {
      ConnectionPool: 64,
      Connection: {
        host: `db.${clusterId}.internal`,
        port: "5432",
        user: "arvados",
        password: secret("PostgreSQL.Connection.password", alnumSecret(clusterId, "PostgresPassword", 40)),
        dbname: "arvados_production",
        client_encoding: "utf8",
      },
    },
    API: {
      MaxItemsPerResponse: 1000,
      MaxRequestSize: 134217728,
      MaxIndexDatabaseRead: 134217728,
      MaxConcurrentRequests: 64,
      RequestTimeout: "5m",
      DisabledAPIs: { "jobs.create": {}, "pipeline_instances.create": {} },
    },
    Users: {
      AutoSetupNewUsers: true,
      NewUsersAreActive: false,
      AutoAdminUserWithEmail: `admin@${domain}`,
      SupportEmailAddress: `support@${domain}`,
      UserNotifierEmailFrom: `arvados@${domain}`,
      AnonymousUserToken: secret("Users.AnonymousUserToken", alnumSecret(clusterId, "AnonymousUserToken")),
    },
    AuditLogs: { MaxAge: "336h", MaxDeleteBatch: 100000 },
    SystemLogs: { LogLevel: "info", Format: "json" },
    Collections: {
      BlobSigning: true,
      BlobSigningKey: secret("Collections.BlobSigningKey", alnumSecret(clusterId, "BlobSigningKey", 64)),
      BlobSigningTTL: "336h",
      DefaultReplication: 2,
      TrustAllContent: false,
      WebDAVCache: { TTL: "5m", MaxCollectionBytes: "1GiB" },
    },
    Login: {
      Google: {
        Enable: index === 0,
        ClientID: `${hex(`${clusterId}:google`, 12)}.apps.googleusercontent.com`,
        ClientSecret: secret("Login.Google.ClientSecret", `GOCSPX-${alnumSecret(clusterId, "Google", 28)}`),
      },
      OpenIDConnect: {
        Enable: index !== 0,
        Issuer: `https://sso.${domain}/realms/arvados`,
        ClientID: "arvados",
        ClientSecret: secret("Login.OpenIDConnect.ClientSecret", alnumSecret(clusterId, "OIDCClientSecret", 40)),
        EmailClaim: "email",
      },
      LDAP: {
        Enable: false,
        URL: `ldaps://ldap.${clusterId}.internal:636`,
        SearchBindUser: `cn=arvados,ou=services,dc=${clusterId},dc=internal`,
        SearchBindPassword: secret("Login.LDAP.SearchBindPassword", alnumSecret(clusterId, "LDAPBind", 36)),
        SearchBase: `dc=${clusterId},dc=internal`,
      },
      PAM: { Enable: false },
      Test: {
        Enable: false,
        Users: {
          alice: {
            Email: `alice@${domain}`,
            Password: secret("Login.Test.Users.alice.Password", alnumSecret(clusterId, "TestAlice", 32)),
          },
        },
      },
      LoginCluster: all[0] ?? "",
      TrustedClients: { [`https://workbench.${domain}`]: {} },
    },
    TLS: {
      Certificate: `file:///etc/arvados/tls/${domain}.crt`,
      Key: `file:///etc/arvados/tls/${domain}.key`,
      Insecure: false,
    },
    Containers: {
      DefaultKeepCacheRAM: "256MiB",
      MaxDispatchAttempts: 5,
      MaxRetryAttempts: 3,
      MaximumPriceFactor: 1.5,
      DispatchPrivateKey: secret("Containers.DispatchPrivateKey", opensshPrivateKey(clusterId)),
      StaleLockTimeout: "1m",
      CrunchRunCommand: "/usr/bin/crunch-run",
      CrunchRunArgumentsList: ["--cgroup-parent-subsystem=cpuset"],
      ReserveExtraRAM: "550MiB",
      RuntimeEngine: "docker",
      LocalKeepBlobBuffersPerVCPU: 1,
      LocalKeepLogsToContainerLog: "errors",
      Logging: { LogUpdatePeriod: "30m", LogUpdateSize: "32MiB" },
      ShellAccess: { Admin: true, User: false },
      SLURM: { PrioritySpread: 0, SbatchArgumentsList: [] },
      CloudVMs: {
        Enable: true,
        BootProbeCommand: "systemctl is-system-running",
        SSHPort: "22",
        PollInterval: "10s",
        SyncInterval: "1m",
        TimeoutIdle: "2m",
        TimeoutBooting: "10m",
        MaxCloudOpsPerSecond: 10,
        MaxInstances: maxInstances,
        ImageID: imageId,
        InstanceInitCommand: "mkdir -p /tmp/crunch && chmod 1777 /tmp/crunch",
        DeployRunnerBinary: "",
        ResourceTags: { Project: "arvados", CostCenter: `cc-${clusterId}` },
        TagKeyPrefix: "Arvados",
        Driver: "ec2",
        DriverParameters: {
          AccessKeyID: secret("Containers.CloudVMs.DriverParameters.AccessKeyID", dispatchAws.id),
          SecretAccessKey: secret("Containers.CloudVMs.DriverParameters.SecretAccessKey", dispatchAws.secret),
          Region: "us-east-1",
          SecurityGroupIDs: { [`sg-0${hex(`${clusterId}:sg`, 16)}`]: {} },
          SubnetID: [`subnet-0${hex(`${clusterId}:subnet-a`, 16)}`, `subnet-0${hex(`${clusterId}:subnet-b`, 16)}`],
          EBSVolumeType: "gp3",
          AdminUsername: "admin",
        },
      },
    },
    InstanceTypes: offered,
    StorageClasses: { default: { Default: true, Priority: 0 }, archival: { Default: false, Priority: -10 } },
    Volumes: Object.fromEntries(
      keepAws.map((pair, i) => [
        `${clusterId}-nyw5e-${String(i).padStart(15, "0")}`,
        {
          AccessViaHosts: { [`http://keep${i}.${clusterId}.internal:25107`]: {} },
          Replication: 2,
          StorageClasses: i === 0 ? { default: true } : { archival: true },
          Driver: "S3",
          DriverParameters: {
            AccessKeyID: secret(
              `Volumes.${clusterId}-nyw5e-${String(i).padStart(15, "0")}.DriverParameters.AccessKeyID`,
              pair.id,
            ),
            SecretAccessKey: secret(
              `Volumes.${clusterId}-nyw5e-${String(i).padStart(15, "0")}.DriverParameters.SecretAccessKey`,
              pair.secret,
            ),
            Region: "us-east-1",
            Bucket: `${clusterId}-keep-${i}`,
            IndexPageSize: 1000,
            PrefixLength: 3,
          },
        },
      ]),
    ),
    RemoteClusters: {
      "*": { Proxy: true, ActivateUsers: false },
      ...Object.fromEntries(
        all
          .filter((other) => other !== clusterId)
          .map((other) => [other, { Host: `${other}.example.org`, Proxy: true, Scheme: "https" }]),
      ),
    },
    Workbench: {
      SiteName: `Arvados ${clusterId}`,
      ActivationContactLink: `mailto:support@${domain}`,
      WelcomePageHTML: "<h2>Please log in.</h2>\n<p>Your first login creates an account.</p>\n",
    },
  };
  return { section, facts: { imageId, maxInstances, instanceTypes: Object.keys(offered) } };
}

/**
 * Builds a production-shaped config.yml for `clusterIds` (default `productionClusterIds`).
 * Deterministic: the same ids give the same text and secrets.
 */
export function productionConfig(clusterIds: readonly string[] = productionClusterIds): ProductionConfig {
  const secrets: ProductionSecret[] = [];
  const clusters: Record<string, ProductionClusterFacts> = {};
  const sections: Record<string, unknown> = {};
  clusterIds.forEach((id, index) => {
    const { section, facts } = clusterSection(id, index, clusterIds, secrets);
    sections[id] = section;
    clusters[id] = facts;
  });
  const body = stringify(
    { Clusters: sections, AutoReloadConfig: false },
    { version: "1.1", lineWidth: 0, aliasDuplicateObjects: false },
  );
  // What config-dump appends: when the source file changed and its digest.
  const dumped = stringify(
    {
      SourceTimestamp: "2026-11-30T14:03:27.123456789Z",
      SourceSHA256: createHash("sha256").update(body).digest("hex"),
    },
    { version: "1.1" },
  );
  const text = `# Arvados configuration: ${clusterIds.join(", ")}. Managed by config management; do not edit by hand.\n${body}${dumped}`;
  return { text, clusterIds: [...clusterIds], secrets, clusters };
}

/** The secret values of `config` (a PEM block whole, with its newlines). */
export function productionSecretValues(config: ProductionConfig = productionConfig()): string[] {
  return config.secrets.map((s) => s.value);
}

/** What a scan looks for, for every secret of `config`: each appears exactly once in `config.text`. */
export function productionSecretNeedles(config: ProductionConfig = productionConfig()): string[] {
  return config.secrets.flatMap((s) => s.needles);
}
