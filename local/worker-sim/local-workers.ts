/**
 * The instance side of a local run with real worker agents: IMDS for the EC2 simulator's
 * instances, the crunch-run simulator, the token "in SSM" (a root-only file), and WorkerAgents
 * running each worker's user data. Off by default in the runner (`--worker-agents`) until the
 * launch side builds worker user data (issue #18); one-container instances keep the emulator.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CrunchRunSim, type CrunchRunSimStats, type ContainerPlan } from "../crunch-run-sim/host.js";
import { ImdsServer } from "../ec2-sim/imds.js";
import type { SimInstance } from "../ec2-sim/model.js";
import type { Ec2Simulator } from "../ec2-sim/simulator.js";
import { WorkerAgents, type WorkerAgentStats } from "./agents.js";

/** EC2's boot, from launch to cloud-init running user data, in EC2 seconds (a realistic figure). */
export const realisticBootSeconds = 90;

/** The local boot delay: `bootSeconds` local seconds if given, else a realistic boot scaled by the tick (the local minute). */
export function localBootDelayMs(bootSeconds: number | undefined, tickMs: number): number {
  return bootSeconds !== undefined ? bootSeconds * 1000 : Math.round((realisticBootSeconds * tickMs) / 60);
}

/** Options of startLocalWorkers. */
export interface LocalWorkersOptions {
  ec2: Ec2Simulator;
  ec2Url: string;
  /** The token the dispatcher's SSM parameter would hold. */
  token: string;
  plan: (uuid: string) => ContainerPlan | undefined;
  defaultRuntimeMs: number;
  bootDelayMs: number;
  /** Parent of the per-run directory of the instances' state and agent logs. */
  stateDir: string;
  /** The container's lock_count, recorded with each crunch-run start (CrunchRunSimOptions.lockOf). */
  lockOf?: (uuid: string) => number | undefined;
  /** Agents that never start (WorkerAgentsOptions.neverBoots). */
  neverBoots?: (instance: Readonly<SimInstance>) => boolean;
  /** What IMDS shows of an instance (default: the simulator's instance as it is), e.g. LateTags. */
  imdsView?: (instance: Readonly<SimInstance>) => Readonly<SimInstance>;
}

/** The running instance side; `stop()` ends every agent and process and removes the token file. Agent logs stay. */
export interface LocalWorkers {
  agents: WorkerAgents;
  crunchRun: CrunchRunSim;
  stats(): { agents: WorkerAgentStats; crunchRun: CrunchRunSimStats };
  stop(): Promise<void>;
}

/** Starts IMDS, the crunch-run simulator and the agents watcher (already polling). */
export async function startLocalWorkers(options: LocalWorkersOptions): Promise<LocalWorkers> {
  const { ec2 } = options;
  mkdirSync(options.stateDir, { recursive: true });
  const dir = mkdtempSync(join(options.stateDir, "workers-"));
  // Outside the logs, which the secret scans read: only the simulated `aws` reads it.
  const tokenDir = mkdtempSync(join(tmpdir(), "arvados-ssm-"));
  const tokenFile = join(tokenDir, "token");
  writeFileSync(tokenFile, `${options.token}\n`, { mode: 0o600 });
  const { imdsView } = options;
  const imds = new ImdsServer((id) => {
    const instance = ec2.instance(id);
    return instance === undefined || imdsView === undefined ? instance : imdsView(instance);
  });
  const crunchRun = new CrunchRunSim({
    plan: options.plan,
    defaultRuntimeMs: options.defaultRuntimeMs,
    nodeAlive: (id) => ec2.instance(id)?.state === "running",
    ...(options.lockOf === undefined ? {} : { lockOf: options.lockOf }),
  });
  await imds.start();
  await crunchRun.start();
  const agents = new WorkerAgents({
    ec2,
    ec2Url: options.ec2Url,
    imds,
    crunchRun,
    tokenFile,
    stateRoot: join(dir, "instances"),
    bootDelayMs: options.bootDelayMs,
    ...(options.neverBoots === undefined ? {} : { neverBoots: options.neverBoots }),
  });
  agents.start();
  return {
    agents,
    crunchRun,
    stats: () => ({ agents: { ...agents.stats }, crunchRun: { ...crunchRun.stats } }),
    async stop() {
      agents.stop();
      await crunchRun.stop();
      await imds.stop();
      rmSync(tokenDir, { recursive: true, force: true });
    },
  };
}
