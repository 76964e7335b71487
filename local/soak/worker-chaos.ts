/**
 * WorkerChaos: the faults of pool mode's instance side, for the fault phase of a soak, thinning
 * out like the ChaosDriver's and stopped at the calm: pool workers dying under their containers
 * (EC2 terminates them: hardware, a spot reclaim without warning), agents that never start (a
 * broken image: the instance runs, nothing reads its orders), order tags that fail (CreateTags
 * refused: the order never reaches the worker) and order tags IMDS shows late (LateTags).
 * DescribeInstances' lag is the soak's own, throughout.
 */
import type { Ec2Simulator } from "../ec2-sim/simulator.js";
import type { SimInstance } from "../ec2-sim/model.js";
import { between, chance, forkRandom, type Random } from "./random.js";

/** How often each fault happens, at full intensity. */
export interface WorkerChaosSettings {
  chaosMs: number;
  stepMs: number;
  /** Per step: terminate a running pool worker (one running a container when there is one, half the time). */
  instanceDeath: number;
  /**
   * Which workers may die: `any`, or only `idle` ones (they ran a container, none runs now), whose
   * death strands nothing: the dispatcher takes a container it bound to a dead worker back only
   * UNLISTED_GRACE_MS (a real minute) after binding it, too slow for a run of a minute or two.
   */
  victims: "any" | "idle";
  /** Per worker first seen running: its agent never starts. */
  neverBoots: number;
  /** Per step: the next CreateTags is refused (UnauthorizedOperation, which the SDK does not retry). */
  lostTag: number;
  /** Per order tag value: IMDS shows it `lateTagMs` late. */
  lateTag: number;
  lateTagMs: { min: number; max: number };
}

/** What it injected (and what took effect). */
export interface WorkerChaosStats {
  instancesKilled: number;
  /** Of those, running a crunch-run when killed. */
  killedBusy: number;
  agentsNeverBooting: number;
  /** CreateTags calls refused. */
  tagsLost: number;
  tagsLate: number;
}

/**
 * Pool mode's fault phase on the instance side (see the module comment). It begins when the
 * first pool worker runs and lasts `chaosMs`; the soak's calm waits for its end too.
 */
export class WorkerChaos {
  readonly stats: WorkerChaosStats = {
    instancesKilled: 0,
    killedBusy: 0,
    agentsNeverBooting: 0,
    tagsLost: 0,
    tagsLate: 0,
  };
  private timer: NodeJS.Timeout | undefined;
  /** When the first pool worker ran: the phase counts from there (before it, there is nothing to hit). */
  private startedAt: number | undefined;
  private isCalm = false;
  private readonly tagFaults = new Set<number>();
  private tagFaultsArmed = 0;
  private readonly random: Random;
  private readonly bootRandom: Random;
  private readonly tagRandom: Random;

  constructor(
    private readonly targets: {
      ec2: Ec2Simulator;
      /** `<TagKeyPrefix>Worker`. */
      workerTagKey: string;
      /** `<TagKeyPrefix>Container:`, the order tags' prefix. */
      orderTagPrefix: string;
      /** Containers crunch-run runs on a node. */
      running: (instanceId: string) => readonly string[];
      /** Whether crunch-run ever ran a container on a node. */
      ranOn: (instanceId: string) => boolean;
    },
    private readonly settings: WorkerChaosSettings,
    seed: number,
  ) {
    // One stream per kind of decision: boots and tags are decided on other timers than the steps.
    this.random = forkRandom(seed, "worker-chaos");
    this.bootRandom = forkRandom(seed, "worker-boots");
    this.tagRandom = forkRandom(seed, "worker-tags");
  }

  /** The fault phase is over. */
  get calm(): boolean {
    return this.isCalm;
  }

  start(): void {
    this.timer = setInterval(() => this.step(), this.settings.stepMs);
  }

  /** Ends the fault phase: no more faults, pending CreateTags refusals withdrawn. */
  stop(): void {
    if (this.isCalm) return;
    this.isCalm = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    let withdrawn = 0;
    for (const id of this.tagFaults) if (this.targets.ec2.removeFault(id)) withdrawn++;
    this.stats.tagsLost = this.tagFaultsArmed - withdrawn;
    this.tagFaults.clear();
  }

  /** WorkerAgentsOptions.neverBoots. */
  readonly neverBoots = (_instance: Readonly<SimInstance>): boolean => {
    this.startedAt ??= Date.now();
    if (!chance(this.bootRandom, this.settings.neverBoots * this.intensity())) return false;
    this.stats.agentsNeverBooting++;
    return true;
  };

  /** LateTags' delay of one tag value: only order tags, only in the fault phase. */
  readonly tagDelayMs = (_instanceId: string, key: string, _value: string): number => {
    if (!key.startsWith(this.targets.orderTagPrefix)) return 0;
    if (!chance(this.tagRandom, this.settings.lateTag * this.intensity())) return 0;
    this.stats.tagsLate++;
    return between(this.tagRandom, this.settings.lateTagMs.min, this.settings.lateTagMs.max);
  };

  step(now = Date.now()): void {
    if (this.isCalm) return;
    const { ec2, workerTagKey } = this.targets;
    if (
      this.startedAt === undefined &&
      ec2.instancesWhere((i) => i.state === "running" && i.tags[workerTagKey] === "pool").length > 0
    )
      this.startedAt = now;
    if (this.startedAt === undefined) return;
    if (now - this.startedAt >= this.settings.chaosMs) {
      this.stop();
      return;
    }
    const intensity = this.intensity(now);
    const r = this.random;
    if (chance(r, this.settings.instanceDeath * intensity)) this.killWorker();
    if (chance(r, this.settings.lostTag * intensity) && this.tagFaults.size === 0) {
      const id = this.targets.ec2.injectFault({
        code: "UnauthorizedOperation",
        message: "You are not authorized to perform this operation.",
        status: 403,
        action: "CreateTags",
        times: 1,
      });
      this.tagFaults.add(id);
      this.tagFaultsArmed++;
    }
    // A consumed fault is gone from the simulator: forget it.
    const live = new Set(this.targets.ec2.faults().map((f) => f.id));
    for (const id of this.tagFaults) if (!live.has(id)) this.tagFaults.delete(id);
  }

  /** Frequent at first, a quarter as frequent by the end of the phase; 0 once calm. */
  private intensity(now = Date.now()): number {
    if (this.isCalm || this.startedAt === undefined) return 0;
    return Math.max(0, 1 - 0.75 * ((now - this.startedAt) / this.settings.chaosMs));
  }

  private killWorker(): void {
    const { ec2, workerTagKey, running, ranOn } = this.targets;
    const workers = ec2.instancesWhere((i) => i.state === "running" && i.tags[workerTagKey] === "pool");
    const busy = workers.filter((i) => running(i.instanceId).length > 0);
    const idle = workers.filter((i) => running(i.instanceId).length === 0 && ranOn(i.instanceId));
    const from = this.settings.victims === "idle" ? idle : busy.length > 0 && chance(this.random, 0.5) ? busy : workers;
    const victim = from[Math.floor(this.random() * from.length)];
    if (victim === undefined) return;
    if (running(victim.instanceId).length > 0) this.stats.killedBusy++;
    ec2.killInstance(victim.instanceId);
    this.stats.instancesKilled++;
  }
}
