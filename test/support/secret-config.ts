/**
 * A whole Arvados config.yml as an operator might copy it into config/<cluster>.yml: the
 * dispatcher's sections, and next to them every kind of secret a cluster config holds, each a
 * distinctive dummy value a scan can find anywhere it is copied to. A second cluster in the same
 * file has secrets of its own.
 */

/** The compute settings the stage params must repeat (README "Deploying", step 4). */
export interface SecretConfigCompute {
  clusterId: string;
  subnetIds: readonly string[];
  securityGroupIds: readonly string[];
  imageId: string;
  tagKeyPrefix: string;
}

export const secretConfigCompute: SecretConfigCompute = {
  clusterId: "xyzzy",
  subnetIds: ["subnet-0aaa1111", "subnet-0bbb2222"],
  securityGroupIds: ["sg-0ccc3333"],
  imageId: "ami-0ddd4444eeee5555f",
  tagKeyPrefix: "Arvados",
};

/** Each dummy secret by the key path that holds it (cluster-relative, as the build names it). */
export const dummySecrets: Readonly<Record<string, string>> = {
  SystemRootToken: "dummySystemRootToken5b8e1f0c7a2d94e3",
  ManagementToken: "dummyManagementToken2c7f9a4e1b6d3058",
  "PostgreSQL.Connection.password": "dummy-postgresql-password-8e31c0",
  "Collections.BlobSigningKey": "dummyBlobSigningKey9d4a7e2c5f1b8036",
  "Users.AnonymousUserToken": "dummyAnonymousUserToken3f6b0d9e2a7c41",
  "Login.Google.ClientSecret": "dummy-google-client-secret-47a9e2",
  "TLS.Key": "/etc/arvados/dummy-tls-key-6d2f81.pem",
  "Volumes.xyzzy-nyw5e-000000000000000.DriverParameters.AccessKeyID": "AKIADUMMYVOLUME7Q2X",
  "Volumes.xyzzy-nyw5e-000000000000000.DriverParameters.SecretAccessKey": "dummyVolumeSecretAccessKey0e5c8b3f1a6d",
  "Containers.DispatchPrivateKey": "dummy-dispatch-private-key-c41e7a9b",
  "Containers.CloudVMs.DriverParameters.AccessKeyID": "AKIADUMMYDRIVER3K8P",
  "Containers.CloudVMs.DriverParameters.SecretAccessKey": "dummyDriverSecretAccessKey6a1f4c9e2b7d",
  "Clusters.other.SystemRootToken": "dummyOtherClusterRootToken8c2e5a1f",
};

const secret = (path: string): string => {
  const value = dummySecrets[path];
  if (value === undefined) throw new Error(`no dummy secret ${path}`);
  return JSON.stringify(value);
};

/** The config.yml text, with the secrets above. */
export function secretConfigYaml(c: SecretConfigCompute = secretConfigCompute): string {
  return `Clusters:
  ${c.clusterId}:
    SystemRootToken: ${secret("SystemRootToken")}
    ManagementToken: ${secret("ManagementToken")}
    PostgreSQL:
      Connection:
        host: db.${c.clusterId}.example.org
        user: arvados
        password: ${secret("PostgreSQL.Connection.password")}
        dbname: arvados_production
    API:
      MaxTokenLifetime: 24h
    Collections:
      BlobSigningKey: ${secret("Collections.BlobSigningKey")}
    Users:
      AnonymousUserToken: ${secret("Users.AnonymousUserToken")}
    Login:
      Google:
        Enable: true
        ClientID: dummy-client-id.apps.example.org
        ClientSecret: ${secret("Login.Google.ClientSecret")}
    TLS:
      Certificate: /etc/arvados/server.crt
      Key: ${secret("TLS.Key")}
    Services:
      Controller:
        ExternalURL: https://${c.clusterId}.example.org
    Volumes:
      ${c.clusterId}-nyw5e-000000000000000:
        Driver: S3
        DriverParameters:
          Bucket: ${c.clusterId}-keep
          AccessKeyID: ${secret("Volumes.xyzzy-nyw5e-000000000000000.DriverParameters.AccessKeyID")}
          SecretAccessKey: ${secret("Volumes.xyzzy-nyw5e-000000000000000.DriverParameters.SecretAccessKey")}
    Containers:
      DispatchPrivateKey: ${secret("Containers.DispatchPrivateKey")}
      MaxDispatchAttempts: 5
      ReserveExtraRAM: 256MiB
      LocalKeepBlobBuffersPerVCPU: 0
      SLURM:
        PrioritySpread: 1000
      CloudVMs:
        Enable: true
        PollInterval: 10s
        TimeoutBooting: 20m
        MaxInstances: 200
        ImageID: ${c.imageId}
        TagKeyPrefix: ${c.tagKeyPrefix}
        ResourceTags:
          Project: genomics
        Driver: ec2
        DriverParameters:
          Region: eu-west-1
          AccessKeyID: ${secret("Containers.CloudVMs.DriverParameters.AccessKeyID")}
          SecretAccessKey: ${secret("Containers.CloudVMs.DriverParameters.SecretAccessKey")}
          SubnetID: [${c.subnetIds.join(", ")}]
          SecurityGroupIDs:
${c.securityGroupIds.map((id) => `            ${id}: {}`).join("\n")}
          EBSVolumeType: gp3
          IAMInstanceProfile: arvados-dispatch-${c.clusterId}-eu-west-1-compute
    InstanceTypes:
      m5.large:
        VCPUs: 2
        RAM: 8GiB
        AddedScratch: 50GiB
        Price: 0.096
      m5.xlarge.spot:
        ProviderType: m5.xlarge
        VCPUs: 4
        RAM: 16GiB
        AddedScratch: 100GiB
        Price: 0.08
        Preemptible: true
      g4dn.xlarge:
        VCPUs: 4
        RAM: 16GiB
        IncludedScratch: 125GB
        Price: 0.526
        GPU:
          Stack: cuda
          DriverVersion: "12.4"
          HardwareTarget: 7.5
          DeviceCount: 1
          VRAM: 16GiB
  other:
    SystemRootToken: ${secret("Clusters.other.SystemRootToken")}
    Containers:
      CloudVMs:
        ImageID: ami-0999888877776666f
`;
}
