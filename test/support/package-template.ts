/**
 * Packages serverless.yml with osls exactly as `npm run package` does, offline, and gives the
 * generated CloudFormation template to the deployment tests with a few typed look-ups.
 *
 * It packages a temporary copy of serverless.yml and infra/ in which every `package.artifact`
 * is an empty zip: the template depends on the deployment configuration, not on the bundles,
 * so the tests neither need every handler to exist yet nor touch the dist/ that `npm run build`
 * and `npm start` use. The child gets no AWS variables and a private HOME: packaging needs no
 * credentials, no network and no state outside the copy.
 */
import { execFile } from "node:child_process";
import { accessSync, constants, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { promisify } from "node:util";

const root = new URL("../..", import.meta.url).pathname;
const osls = join(root, "node_modules", "osls", "bin", "serverless.js");
const service = "arvados-dispatch";

/** The end-of-central-directory record alone: a valid zip with no entries. */
const emptyZip = Buffer.from([0x50, 0x4b, 0x05, 0x06, ...new Array<number>(18).fill(0)]);

export interface PackageOptions {
  stage: string;
  region?: string;
  /** Passed as `--param "name=value"`; lists as "a,b". */
  params?: Record<string, string>;
}

/** osls exited non-zero; `output` is what it printed (it names the unresolved variables). */
export class PackagingError extends Error {
  override readonly name = "PackagingError";
  constructor(readonly output: string) {
    super(`osls package failed:\n${output}`);
  }
}

/** A CloudFormation intrinsic or literal, as it appears in the template. */
export type CfnValue = unknown;

export interface CfnResource<P = Record<string, CfnValue>> {
  Type: string;
  Condition?: string;
  Properties: P;
}

export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Conditions?: Record<string, CfnValue>;
  Outputs?: Record<string, { Value: CfnValue }>;
}

export interface LambdaFunctionProperties {
  FunctionName: string;
  Handler: string;
  Runtime: string;
  Architectures: string[];
  Timeout: number;
  MemorySize?: number;
  Role: CfnValue;
  ReservedConcurrentExecutions?: number;
  Code: { S3Key: string };
  Environment: { Variables: Record<string, CfnValue> };
}

export interface EventSourceMappingProperties {
  EventSourceArn: CfnValue;
  FunctionName: CfnValue;
  StartingPosition: string;
  BatchSize: number;
  MaximumBatchingWindowInSeconds?: number;
  MaximumRetryAttempts?: number;
  BisectBatchOnFunctionError?: boolean;
  FunctionResponseTypes?: string[];
  DestinationConfig?: { OnFailure: { Destination: CfnValue } };
  FilterCriteria?: { Filters: { Pattern: string }[] };
}

export interface EventRuleProperties {
  ScheduleExpression?: string;
  EventPattern?: Record<string, CfnValue>;
  State: string;
  Targets: { Arn: CfnValue }[];
}

export interface EventInvokeConfigProperties {
  FunctionName: CfnValue;
  MaximumRetryAttempts?: number;
  MaximumEventAgeInSeconds?: number;
}

export interface PolicyStatement {
  Effect: "Allow" | "Deny";
  Action: string[];
  Resource: CfnValue;
  Condition?: Record<string, Record<string, CfnValue>>;
}

interface RoleProperties {
  AssumeRolePolicyDocument: { Statement: { Principal: { Service: string } }[] };
  Policies: { PolicyDocument: { Statement: PolicyStatement[] } }[];
}

/** The packaged template of one stage, with look-ups by what the tests talk about. */
export class PackagedTemplate {
  constructor(
    readonly template: CfnTemplate,
    readonly stage: string,
  ) {}

  /** The resource `logicalId`, checked to be of `type`. */
  resource<P>(logicalId: string, type: string): CfnResource<P> {
    const found = this.template.Resources[logicalId];
    if (found === undefined) throw new Error(`no resource ${logicalId}`);
    if (found.Type !== type) throw new Error(`${logicalId} is a ${found.Type}, not a ${type}`);
    return found as CfnResource<P>;
  }

  /** Every resource of `type`, by logical id. */
  resourcesOfType<P>(type: string): [string, CfnResource<P>][] {
    return Object.entries(this.template.Resources).filter(([, r]) => r.Type === type) as [string, CfnResource<P>][];
  }

  /** The Lambda function deployed for `functions.<name>` (named `<service>-<stage>-<name>`). */
  lambdaFunction(name: string): { logicalId: string; properties: LambdaFunctionProperties } {
    const fullName = `${service}-${this.stage}-${name}`;
    const found = this.resourcesOfType<LambdaFunctionProperties>("AWS::Lambda::Function").filter(
      ([, r]) => r.Properties.FunctionName === fullName,
    );
    const [only] = found;
    if (found.length !== 1 || only === undefined)
      throw new Error(`expected one function ${fullName}, found ${found.length}`);
    return { logicalId: only[0], properties: only[1].Properties };
  }

  /** `{"Fn::GetAtt": [<function>, "Arn"]}`: how mappings and rules name a function. */
  functionArn(name: string): CfnValue {
    return { "Fn::GetAtt": [this.lambdaFunction(name).logicalId, "Arn"] };
  }

  eventSourceMappings(name: string): EventSourceMappingProperties[] {
    const arn = JSON.stringify(this.functionArn(name));
    return this.resourcesOfType<EventSourceMappingProperties>("AWS::Lambda::EventSourceMapping")
      .map(([, r]) => r.Properties)
      .filter((p) => JSON.stringify(p.FunctionName) === arn);
  }

  /** The EventBridge rules (schedules and patterns) whose targets include the function. */
  rulesTargeting(name: string): EventRuleProperties[] {
    const arn = JSON.stringify(this.functionArn(name));
    return this.resourcesOfType<EventRuleProperties>("AWS::Events::Rule")
      .map(([, r]) => r.Properties)
      .filter((p) => p.Targets.some((t) => JSON.stringify(t.Arn) === arn));
  }

  /** The asynchronous-invocation settings (retries, event age) of the function, if any. */
  eventInvokeConfig(name: string): EventInvokeConfigProperties | undefined {
    const ref = JSON.stringify({ Ref: this.lambdaFunction(name).logicalId });
    return this.resourcesOfType<EventInvokeConfigProperties>("AWS::Lambda::EventInvokeConfig")
      .map(([, r]) => r.Properties)
      .find((p) => JSON.stringify(p.FunctionName) === ref);
  }

  /** The statements of an IAM role's inline policies. */
  roleStatements(logicalId: string): PolicyStatement[] {
    const role = this.resource<RoleProperties>(logicalId, "AWS::IAM::Role");
    return role.Properties.Policies.flatMap((p) => p.PolicyDocument.Statement).map((s) => ({
      ...s,
      Action: typeof s.Action === "string" ? [s.Action] : s.Action,
    }));
  }

  /** The logical id of the role the function runs with (its `Role`, `{"Fn::Sub": "${<id>.Arn}"}` or a GetAtt). */
  functionRole(name: string): string {
    const role = this.lambdaFunction(name).properties.Role as { "Fn::Sub"?: string; "Fn::GetAtt"?: [string, string] };
    const id = role["Fn::GetAtt"]?.[0] ?? /^\$\{(\w+)\.Arn\}$/.exec(role["Fn::Sub"] ?? "")?.[1];
    if (id === undefined) throw new Error(`${name}: role ${JSON.stringify(role)} is not a role of this template`);
    return id;
  }

  /** The statements of the function's own role. */
  functionStatements(name: string): PolicyStatement[] {
    return this.roleStatements(this.functionRole(name));
  }

  /** The statements of the function's role granting or denying `action`. */
  statementsFor(name: string, action: string): PolicyStatement[] {
    return this.functionStatements(name).filter((s) => s.Action.includes(action));
  }
}

/** One finding of cfn-lint (`--format json`). */
export interface CfnLintMatch {
  Level: "Error" | "Warning" | "Informational";
  Message: string;
  Rule: { Id: string };
  Location: { Path: (string | number)[] };
}

/** Whether cfn-lint, AWS's CloudFormation linter, is on PATH. */
export function cfnLintOnPath(): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((dir) => dir !== "" && isExecutable(join(dir, "cfn-lint")));
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Runs cfn-lint on the template and returns what it found (it exits non-zero when it finds anything). */
export async function cfnLint(template: CfnTemplate): Promise<CfnLintMatch[]> {
  const work = mkdtempSync(join(tmpdir(), "arvados-dispatch-lint-"));
  try {
    const file = join(work, "cloudformation-template-update-stack.json");
    writeFileSync(file, JSON.stringify(template, null, 2));
    const run = await promisify(execFile)("cfn-lint", ["--format", "json", file], { timeout: 120_000 }).catch(
      (err: { stdout?: string; code?: number; message: string }) => {
        // Exit codes 2, 4 and 8 (and their sums) mean errors, warnings, informational findings.
        if (typeof err.code === "number" && err.code < 16 && err.stdout) return { stdout: err.stdout };
        throw new Error(`cfn-lint failed: ${err.message}`);
      },
    );
    return JSON.parse(run.stdout) as CfnLintMatch[];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The artifacts serverless.yml deploys (`package.artifact: dist/<name>.zip`). */
export function declaredArtifacts(serverlessYml: string): string[] {
  return [...serverlessYml.matchAll(/^\s+artifact:\s*(\S+)\s*$/gm)].map((m) => m[1] ?? "");
}

/**
 * Runs `osls package --stage <stage>` on a temporary copy of the deployment configuration and
 * returns the generated `cloudformation-template-update-stack.json`. Takes a few seconds.
 */
export async function packageTemplate(options: PackageOptions): Promise<PackagedTemplate> {
  const work = mkdtempSync(join(tmpdir(), "arvados-dispatch-package-"));
  try {
    const serverlessYml = readFileSync(join(root, "serverless.yml"), "utf8");
    writeFileSync(join(work, "serverless.yml"), serverlessYml);
    cpSync(join(root, "infra"), join(work, "infra"), { recursive: true });
    for (const artifact of declaredArtifacts(serverlessYml)) {
      mkdirSync(dirname(join(work, artifact)), { recursive: true });
      writeFileSync(join(work, artifact), emptyZip);
    }
    const args = [osls, "package", "--stage", options.stage, "--region", options.region ?? "us-east-1"];
    for (const [name, value] of Object.entries(options.params ?? {})) args.push("--param", `${name}=${value}`);
    try {
      await promisify(execFile)(process.execPath, args, {
        cwd: work,
        timeout: 120_000,
        // Deliberately no AWS_* variables: packaging must not need credentials.
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: join(work, "home"),
          NO_COLOR: "1",
        },
      });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new PackagingError(`${e.stdout ?? ""}${e.stderr ?? ""}` || e.message);
    }
    const templatePath = join(work, ".serverless", "cloudformation-template-update-stack.json");
    return new PackagedTemplate(JSON.parse(readFileSync(templatePath, "utf8")) as CfnTemplate, options.stage);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
