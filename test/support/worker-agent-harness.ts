/**
 * Runs the real worker agent (lib/cloud/worker-agent.ts) under a POSIX shell against the EC2
 * simulator and its IMDS on loopback, with fake `aws`, `crunch-run` and `shutdown` on PATH.
 *
 * The fake crunch-run keeps upstream's protocol (lib/crunchrun/background.go): `--detach` reads
 * the stdin config and prints `{"UUID":…,"PID":…}`; `--list` prints one uuid a line, or `broken`;
 * `--kill <signal> -- <uuid>` ends it. A "process" is a file under `running/`; the test ends a
 * container by removing it, makes it unkillable with `unkillable-<uuid>`, the node broken with
 * `broken`, and a start fail with `fail-start`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EC2Client, RunInstancesCommand, type RunInstancesCommandInput } from "@aws-sdk/client-ec2";
import { buildWorkerUserData, type WorkerAgentArgs } from "../../lib/cloud/worker-agent.js";
import type { Assignment } from "../../lib/cloud/worker-channel.js";
import { ImdsServer } from "../../local/ec2-sim/imds.js";
import { Ec2Simulator } from "../../local/ec2-sim/simulator.js";
import { localEc2Client } from "./ec2.js";

/** A token shaped like a real v2 token, with every character a token may hold. */
export const agentTestToken = "v2/zzzzz-gj3su-000000000000000/s3cr3tTok+en=x_y.z-9";

/**
 * The POSIX shell the agent runs under: dash where installed (Debian's /bin/sh), else sh;
 * `AGENT_TEST_SHELL` picks another (e.g. bash, /bin/sh on RHEL-like images).
 */
export const posixShell =
  process.env.AGENT_TEST_SHELL ??
  (existsSync("/usr/bin/dash") ? "/usr/bin/dash" : existsSync("/bin/dash") ? "/bin/dash" : "sh");

/** The agent settings of a test: fast polls and short timeouts (whole seconds, as the agent counts). */
export function agentArgs(over: Partial<WorkerAgentArgs> = {}): WorkerAgentArgs {
  return {
    instanceSecret: "f".repeat(40),
    initCommand: "true",
    tokenParameterName: "/arvados/zzzzz/dispatch-token",
    region: "us-east-1",
    apiHost: "zzzzz.example.org",
    crunchRunCommand: "crunch-run",
    runtimeEngine: "docker",
    instanceTypeJson: '{"Name":"m5large","ProviderType":"m5.large","VCPUs":2}',
    tagKeyPrefix: "Arvados",
    assignments: [],
    timeoutIdleSeconds: 1,
    timeoutTermSeconds: 2,
    pollSeconds: 0.1,
    ...over,
  };
}

/** What one agent run left behind, read from its fake tools. */
export class AgentRun {
  private stderrText = "";
  readonly exited: Promise<number | null>;

  constructor(
    readonly dir: string,
    readonly instanceId: string,
    readonly userData: string,
    private readonly proc: ChildProcess,
  ) {
    proc.stderr?.on("data", (chunk: Buffer) => {
      this.stderrText += chunk.toString("utf8");
    });
    this.exited = new Promise((resolve) => proc.once("exit", (code) => resolve(code)));
  }

  get stderr(): string {
    return this.stderrText;
  }

  private read(name: string): string | undefined {
    const path = join(this.dir, name);
    return existsSync(path) ? readFileSync(path, "utf8") : undefined;
  }

  /** Every crunch-run call, one argv a line. */
  calls(): string[] {
    return (this.read("calls") ?? "").split("\n").filter((l) => l !== "");
  }

  /** The argv of each `--detach` call. */
  starts(): string[] {
    return this.calls().filter((c) => c.startsWith("--detach"));
  }

  /** The containers crunch-run was told to kill, once per call. */
  kills(): string[] {
    return (this.read("kills") ?? "").split("\n").filter((l) => l !== "");
  }

  stdinOf(uuid: string): string | undefined {
    return this.read(`stdin-${uuid}`);
  }

  envOf(uuid: string): string | undefined {
    return this.read(`env-${uuid}`);
  }

  awsArgs(): string | undefined {
    return this.read("aws-args");
  }

  running(): string[] {
    return readdirSync(join(this.dir, "running"));
  }

  poweredOff(): boolean {
    return existsSync(join(this.dir, "shutdown"));
  }

  /** The container ends on its own (crunch-run exits). */
  finish(uuid: string): void {
    rmSync(join(this.dir, "running", uuid), { force: true });
  }

  /** Create a marker file the fake crunch-run reads (`broken`, `fail-start`, `unkillable-<uuid>`). */
  mark(name: string): void {
    writeFileSync(join(this.dir, name), "");
  }

  /** Wait until `check` holds, polling; rejects after `timeoutMs` with what the agent said. */
  async until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; agent stderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Stop the agent if it still runs (tests that do not end with a power-off). */
  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
  }
}

/** The fake tools, writing into `dir`. `ssmToken` undefined makes `aws` fail. */
function writeFakeTools(dir: string, ssmToken: string | undefined): string {
  const bin = join(dir, "bin");
  mkdirSync(bin);
  mkdirSync(join(dir, "running"));
  const fake = (name: string, body: string) =>
    writeFileSync(join(bin, name), `#!/bin/sh\nd='${dir}'\n${body}\n`, { mode: 0o755 });
  fake(
    "aws",
    ssmToken === undefined
      ? `echo 'An error occurred (AccessDeniedException)' >&2; exit 254`
      : `printf '%s\\n' "$@" >"$d/aws-args"; printf '%s\\n' '${ssmToken}'`,
  );
  fake(
    "crunch-run",
    `printf '%s\\n' "$*" >>"$d/calls"
for last; do :; done
case $1 in
--detach)
  cat >"$d/stdin-$last"
  env >"$d/env-$last"
  [ -e "$d/fail-start" ] && { echo "lock held" >&2; exit 1; }
  : >"$d/running/$last"
  printf '{"UUID":"%s","PID":%d}\\n' "$last" 4242 ;;
--list)
  [ -e "$d/broken" ] && echo broken
  ls "$d/running" ;;
--kill)
  echo "$last" >>"$d/kills"
  [ -e "$d/unkillable-$last" ] || rm -f "$d/running/$last" ;;
*) exit 2 ;;
esac`,
  );
  fake("shutdown", `echo "$*" >"$d/shutdown"`);
  return bin;
}

/** An EC2 simulator, its IMDS and an SDK client, for one test file. */
export class AgentWorld {
  readonly sim = new Ec2Simulator();
  readonly imds = new ImdsServer((id) => this.sim.instance(id));
  ec2!: EC2Client;
  private readonly runs: AgentRun[] = [];
  private readonly dirs: string[] = [];

  async start(): Promise<void> {
    this.ec2 = localEc2Client(await this.sim.start());
    await this.imds.start();
  }

  async stop(): Promise<void> {
    for (const run of this.runs) run.kill();
    await Promise.all(this.runs.map((r) => r.exited));
    this.ec2?.destroy();
    await this.imds.stop();
    await this.sim.stop();
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }

  /** Launch one instance as a worker launch does (IMDSv2, tags in IMDS) with `userData`. */
  async launch(userData: string, over: Partial<RunInstancesCommandInput> = {}): Promise<string[]> {
    const out = await this.ec2.send(
      new RunInstancesCommand({
        ImageId: "ami-0123",
        InstanceType: "m5.large",
        MinCount: 1,
        MaxCount: 1,
        UserData: Buffer.from(userData).toString("base64"),
        InstanceInitiatedShutdownBehavior: "terminate",
        MetadataOptions: {
          HttpEndpoint: "enabled",
          HttpTokens: "required",
          HttpPutResponseHopLimit: 1,
          InstanceMetadataTags: "enabled",
        },
        TagSpecifications: [
          {
            ResourceType: "instance",
            Tags: [
              { Key: "ArvadosInstanceSetID", Value: "zzzzz-gj3su-000000000000000" },
              { Key: "ArvadosIdleBehavior", Value: "run" },
            ],
          },
        ],
        ...over,
      }),
    );
    this.sim.tick();
    return (out.Instances ?? []).map((i) => i.InstanceId ?? "");
  }

  /**
   * Launch an instance with the agent's user data for `assignments` and run the agent for it
   * (the instance with launch index `runIndex` of the call).
   */
  async runAgent(
    opts: {
      args?: Partial<WorkerAgentArgs>;
      assignments?: readonly (readonly Assignment[])[];
      ssmToken?: string | undefined;
      launch?: Partial<RunInstancesCommandInput>;
      runIndex?: number;
    } = {},
  ): Promise<AgentRun> {
    const dir = mkdtempSync(join(tmpdir(), "agent-"));
    this.dirs.push(dir);
    const bin = writeFakeTools(dir, "ssmToken" in opts ? opts.ssmToken : agentTestToken);
    const userData = buildWorkerUserData(
      agentArgs({
        assignments: opts.assignments ?? [],
        secretPath: join(dir, "secret"),
        stateDir: join(dir, "state"),
        ...opts.args,
      }),
    );
    const ids = await this.launch(userData, opts.launch);
    const instanceId = ids[opts.runIndex ?? 0] ?? "";
    const proc = spawn(posixShell, ["-c", userData], {
      env: { PATH: `${bin}:/usr/bin:/bin`, AWS_EC2_METADATA_SERVICE_ENDPOINT: this.imds.endpointFor(instanceId) },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const run = new AgentRun(dir, instanceId, userData, proc);
    this.runs.push(run);
    return run;
  }
}
