/**
 * Worker agents, for real, on the simulated instances: once an instance of the EC2 simulator has
 * been running for the boot delay, its user data (the real agent script, lib/cloud/worker-agent.ts)
 * runs under the machine's POSIX shell, as cloud-init would run it, with:
 *
 * - `AWS_EC2_METADATA_SERVICE_ENDPOINT`: that instance's IMDS in the simulator (local/ec2-sim/imds.ts);
 * - on PATH: the simulated `crunch-run` (local/crunch-run-sim), and `aws` and `shutdown`
 *   (./bin): SSM answers with the token in a root-only file, and a power-off shuts the instance
 *   down in the EC2 simulator;
 * - `ARVADOS_AGENT_STATE_DIR` and `ARVADOS_INSTANCE_SECRET_PATH` moved under a local directory.
 *
 * An instance that stops running (terminated, reclaimed, powered off) takes its agent and its
 * crunch-run processes with it. Only user data carrying the worker marker runs: the operator's
 * InstanceInitCommand runs too, as the local user, so keep it harmless in local configs.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { workerUserDataMarker } from "../../lib/cloud/worker-agent.js";
import { type CrunchRunSim, crunchRunSimBinDir } from "../crunch-run-sim/host.js";
import type { ImdsServer } from "../ec2-sim/imds.js";
import type { SimInstance } from "../ec2-sim/model.js";
import type { Ec2Simulator } from "../ec2-sim/simulator.js";
import { InstanceWatcher } from "../runner/instance-watcher.js";

/** The directory of the simulated `aws` and `shutdown`. */
export const workerSimBinDir = fileURLToPath(new URL("./bin", import.meta.url));

/** The POSIX shell cloud-init would use: dash where installed, as on Debian. */
export const instanceShell = existsSync("/usr/bin/dash") ? "/usr/bin/dash" : "/bin/sh";

/** Options of WorkerAgents. */
export interface WorkerAgentsOptions {
  ec2: Ec2Simulator;
  /** The EC2 simulator's base URL (for `shutdown`). */
  ec2Url: string;
  imds: ImdsServer;
  crunchRun: CrunchRunSim;
  /** A file (mode 0600) holding the token SSM would give the instance role. */
  tokenFile: string;
  /** Where each instance's state directory, secret file and agent log go. */
  stateRoot: string;
  /** From running to the agent starting (EC2's boot and cloud-init), local ms. */
  bootDelayMs: number;
  /** Which instances run their user data (default: those whose user data is a worker agent's). */
  isWorker?: (instance: Readonly<SimInstance>) => boolean;
  /**
   * Asked once per worker instance, when first seen running: true and its agent never starts (a
   * broken image, cloud-init failing), so the instance runs with nothing on it. Default never.
   */
  neverBoots?: (instance: Readonly<SimInstance>) => boolean;
  pollMs?: number;
}

/** The life of one worker's agent, kept after it ended: when it ran, for a soak's idle check. */
export interface AgentLife {
  instanceId: string;
  /** Epoch ms the agent started (cloud-init ran the user data); undefined if it never did. */
  startedAt?: number;
  /** Epoch ms it ended: it exited (a power-off), or its instance stopped running under it. */
  endedAt?: number;
  /** `neverBoots` said so: it will never start. */
  neverBoots: boolean;
}

/** What the agents did, for the display and tests. */
export interface WorkerAgentStats {
  started: number;
  /** Agents that ended by themselves (a power-off, or a refusal at boot). */
  exited: number;
  /** Agents stopped because their instance stopped running under them. */
  stopped: number;
  /** Worker instances whose agent was made never to start (`neverBoots`). */
  neverBooted: number;
}

interface Agent {
  proc: ChildProcess | undefined;
  /** Local time the instance was first seen running. */
  runningSince: number;
  exitCode?: number | null;
  life: AgentLife;
}

/** Whether `userData` is a worker agent's (lib/cloud/worker-agent.ts). */
export function isWorkerUserData(userData: string | undefined): boolean {
  return userData?.split("\n").includes(workerUserDataMarker) === true;
}

/** WorkerAgents runs the agent of every worker instance of the EC2 simulator until stopped. */
export class WorkerAgents extends InstanceWatcher {
  readonly stats: WorkerAgentStats = { started: 0, exited: 0, stopped: 0, neverBooted: 0 };
  private readonly agents = new Map<string, Agent>();
  private readonly lives: AgentLife[] = [];

  constructor(private readonly options: WorkerAgentsOptions) {
    super(options.pollMs);
  }

  /** The agent log of an instance (its stderr). */
  logPath(instanceId: string): string {
    return join(this.options.stateRoot, instanceId, "agent.log");
  }

  /** Every worker instance seen running and its agent's life, in the order first seen (copies). */
  history(): AgentLife[] {
    return this.lives.map((l) => ({ ...l }));
  }

  /** The exit code of an instance's agent, once it ended by itself (undefined while it runs or before it starts). */
  exitCode(instanceId: string): number | null | undefined {
    return this.agents.get(instanceId)?.exitCode;
  }

  step(now = Date.now()): void {
    const { ec2 } = this.options;
    const isWorker = this.options.isWorker ?? ((i: Readonly<SimInstance>) => isWorkerUserData(i.userData));
    ec2.advance(0);
    for (const instance of ec2.instancesWhere((i) => i.state === "running" || this.agents.has(i.instanceId))) {
      const id = instance.instanceId;
      const agent = this.agents.get(id);
      if (instance.state !== "running") {
        if (agent !== undefined) this.end(id, agent);
        continue;
      }
      if (!isWorker(instance)) continue;
      if (agent === undefined) {
        const neverBoots = this.options.neverBoots?.(instance) === true;
        if (neverBoots) this.stats.neverBooted++;
        const life: AgentLife = { instanceId: id, neverBoots };
        this.lives.push(life);
        this.agents.set(id, { proc: undefined, runningSince: now, life });
        continue;
      }
      if (agent.proc === undefined && !agent.life.neverBoots && now - agent.runningSince >= this.options.bootDelayMs) {
        agent.proc = this.boot(instance);
        agent.life.startedAt = now;
      }
    }
  }

  override stop(): void {
    super.stop();
    for (const [id, agent] of this.agents) this.end(id, agent);
  }

  /** cloud-init runs the user data. */
  private boot(instance: Readonly<SimInstance>): ChildProcess {
    const { options } = this;
    const id = instance.instanceId;
    const dir = join(options.stateRoot, id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const log = openSync(this.logPath(id), "a", 0o600);
    const proc = spawn(instanceShell, ["-c", instance.userData ?? ""], {
      env: {
        PATH: `${workerSimBinDir}:${crunchRunSimBinDir}:/usr/bin:/bin`,
        AWS_EC2_METADATA_SERVICE_ENDPOINT: options.imds.endpointFor(id),
        CRUNCH_RUN_SIM_URL: options.crunchRun.urlFor(id),
        EC2_SIM_URL: options.ec2Url,
        EC2_SIM_INSTANCE_ID: id,
        ARVADOS_SIM_TOKEN_FILE: options.tokenFile,
        ARVADOS_AGENT_STATE_DIR: join(dir, "state"),
        ARVADOS_INSTANCE_SECRET_PATH: join(dir, "instance-secret"),
      },
      // Its own process group, so the instance's end takes the agent's children (sleep, curl) too.
      detached: true,
      stdio: ["ignore", log, log],
    });
    closeSync(log);
    this.stats.started++;
    proc.once("exit", (code) => {
      const agent = this.agents.get(id);
      if (agent?.proc === proc && agent.exitCode === undefined) {
        agent.exitCode = code;
        agent.life.endedAt ??= Date.now();
        this.stats.exited++;
      }
    });
    return proc;
  }

  /** The instance is gone: its agent and crunch-run processes go with it. */
  private end(id: string, agent: Agent): void {
    const { proc } = agent;
    if (agent.life.startedAt !== undefined) agent.life.endedAt ??= Date.now();
    if (proc?.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
      try {
        process.kill(-proc.pid, "SIGKILL");
        this.stats.stopped++;
      } catch {
        // Already gone.
      }
    }
    this.options.crunchRun.dropNode(id);
    this.agents.delete(id);
  }
}
