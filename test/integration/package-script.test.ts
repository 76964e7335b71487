import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseClusterConfig } from "../../lib/config/load.js";
import { findSecret } from "../../local/secret-scan.js";
import { type PackageProject as Project, PackageProject, type PackageRun } from "../support/package-project.js";
import { dummySecrets, secretConfigCompute as compute, secretConfigYaml } from "../support/secret-config.js";
import { zipEntries } from "../support/zip-entries.js";

// `STAGE=xyzzy npm run package` as an operator runs it, with the whole config.yml copied to
// config/xyzzy.yml (secrets and all) and the stage's params on the command line.
const stage = "xyzzy";
const configText = secretConfigYaml();
const params = {
  arvadosApiHost: "xyzzy.example.org",
  instanceSetId: "xyzzy-gj3su-0123456789abcde",
  computeSubnetIds: compute.subnetIds.join(","),
  computeSecurityGroupIds: compute.securityGroupIds.join(","),
  computeVpcId: "vpc-0fff6666",
  imageId: compute.imageId,
};
const paramArgs = (values: Record<string, string>) =>
  Object.entries(values).flatMap(([k, v]) => ["--param", `${k}=${v}`]);
const functionNames = ["choose-instance-types", "cleanup", "dispatch-api", "launch", "update-queue"];

let project: Project;
let run: PackageRun;
beforeAll(async () => {
  project = PackageProject.create({ "config/xyzzy.yml": configText });
  run = await project.package(stage, ["--region", "eu-west-1", ...paramArgs(params)]);
}, 300_000);
afterAll(() => project?.remove());

describe("a config full of secrets packages without any of them", () => {
  it("packages: a zip per function and the template", () => {
    expect(run.status, run.stderr).toBe(0);
    expect(project.files("dist").filter((f) => f.endsWith(".zip"))).toEqual(functionNames.map((n) => `dist/${n}.zip`));
    expect(project.files(".serverless")).toContain(".serverless/cloudformation-template-update-stack.json");
  });

  it("each zip holds the bundle, its source map and cluster-config.json, nothing else", () => {
    for (const name of functionNames) {
      expect([...zipEntries(project.read(`dist/${name}.zip`)).keys()].sort(), name).toEqual(
        ["cluster-config.json", "index.mjs", "index.mjs.map"].sort(),
      );
    }
  });

  it("the packed cluster-config.json loads to the same config as the file it came from", () => {
    const original = parseClusterConfig(configText, { clusterId: stage }).config;
    for (const name of functionNames) {
      const packed =
        zipEntries(project.read(`dist/${name}.zip`))
          .get("cluster-config.json")
          ?.toString("utf8") ?? "";
      // As the functions load it: DISPATCH_CONFIG, ARVADOS_CLUSTER_ID.
      expect(parseClusterConfig(packed, { clusterId: stage }).config, name).toEqual(original);
    }
  });

  it("no secret is in any zip entry, bundle, template or state file osls wrote, or the log, as is or base64-encoded", () => {
    const secrets = Object.values(dummySecrets);
    const leaks: string[] = [];
    const check = (place: string, text: string) => {
      const found = findSecret(text, secrets);
      if (found !== undefined)
        leaks.push(`${place}: ${Object.entries(dummySecrets).find(([, v]) => found.startsWith(v))?.[0]}`);
    };
    let checked = 0;
    for (const file of [...project.files("dist"), ...project.files(".serverless")]) {
      const content = project.read(file);
      if (file.endsWith(".zip")) {
        for (const [entry, data] of zipEntries(content)) {
          check(`${file}:${entry}`, data.toString("utf8"));
          checked++;
        }
      } else {
        check(file, content.toString("utf8"));
        checked++;
      }
    }
    check("the log", `${run.stdout}\n${run.stderr}`);
    expect(leaks).toEqual([]);
    // 4 zips × 3 entries, 4 × 2 unpacked bundle files, the template and osls's state.
    expect(checked).toBeGreaterThanOrEqual(22);
  });

  it("the log names each secret-bearing key it left out, by path only", () => {
    const line = run.stdout.split("\n").find((l) => l.includes("secrets left out")) ?? "";
    for (const path of Object.keys(dummySecrets)) expect(line).toContain(path);
  });
});

describe("operator errors are caught before anything is built, in one line", () => {
  const oneLine = (r: PackageRun) => {
    expect(r.status).toBe(1);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    return r.stderr.trim();
  };

  it("a stage missing params is told every one of them", async () => {
    const p = PackageProject.create();
    try {
      const r = await p.package("nosuch", paramArgs({ arvadosApiHost: "nosuch.example.org", computeVpcId: "vpc-1" }));
      expect(oneLine(r)).toBe(
        "stage nosuch lacks the required params instanceSetId, computeSubnetIds, computeSecurityGroupIds, imageId: " +
          'add them to params.nosuch in serverless.yml or pass --param "<name>=<value>" for each',
      );
      expect(p.files("dist")).toEqual([]);
    } finally {
      p.remove();
    }
  }, 60_000);

  it("params that disagree with the config (subnets, security groups, TagKeyPrefix, ImageID) are each named with both values", async () => {
    const p = PackageProject.create({ "config/xyzzy.yml": configText });
    try {
      const r = await p.package(
        stage,
        paramArgs({
          ...params,
          computeSubnetIds: "subnet-0aaa1111,subnet-0eee9999",
          computeSecurityGroupIds: "sg-0ccc3333",
          tagKeyPrefix: "Crunch",
          imageId: "ami-0123456789abcdef0",
        }),
      );
      expect(oneLine(r)).toBe(
        "stage xyzzy: params and config/xyzzy.yml disagree: " +
          "computeSubnetIds subnet-0aaa1111,subnet-0eee9999 vs Containers.CloudVMs.DriverParameters.SubnetID subnet-0aaa1111,subnet-0bbb2222; " +
          "tagKeyPrefix Crunch vs Containers.CloudVMs.TagKeyPrefix Arvados; " +
          "imageId ami-0123456789abcdef0 vs Containers.CloudVMs.ImageID ami-0ddd4444eeee5555f",
      );
      expect(p.files("dist")).toEqual([]);
    } finally {
      p.remove();
    }
  }, 60_000);

  it("a stage whose config file is missing is told which file", async () => {
    const p = PackageProject.create();
    try {
      expect(oneLine(await p.package(stage, paramArgs(params)))).toBe(
        'stage xyzzy: cluster config config/xyzzy.yml not found (README "Deploying", step 3; or set the configFile param)',
      );
    } finally {
      p.remove();
    }
  }, 60_000);
});

describe("the deploy command is the one to run next", () => {
  it("is printed with the same osls arguments, params included, so `osls deploy` resolves the stage as packaging did", () => {
    const printed = run.stdout.trimEnd().split("\n").at(-1)?.trim();
    expect(printed).toBe(
      `npx osls deploy --stage xyzzy --region eu-west-1 ${Object.entries(params)
        .map(([k, v]) => `--param ${k}=${v}`)
        .join(" ")} --package .serverless`,
    );
  });

  it("runs as printed up to where it needs the cluster account's credentials: every variable resolves, the package is found", async () => {
    const printed = run.stdout.trimEnd().split("\n").at(-1)?.trim() ?? "";
    const [npx, osls, ...args] = printed.split(" ");
    expect([npx, osls]).toEqual(["npx", "osls"]);
    const deploy = await project.osls(args);
    const output = `${deploy.stdout}${deploy.stderr}`;
    expect(deploy.status).not.toBe(0);
    expect(output).toContain("AWS provider credentials not found");
    expect(output).not.toContain("Cannot resolve");
  }, 120_000);
});
