/**
 * The ChaosDriver injects faults at random (seeded) for the first `chaosMs` of a soak, most often
 * at the start and thinning out towards the end, then stops them all at once (the calm phase) so
 * the system can converge: Arvados 5xx, 503 bursts, slow replies and replies slower than the
 * client's timeout, malformed, truncated (a lock that happened but whose reply was lost) and
 * dropped replies; EC2 capacity, subnet, quota and throttling errors; DynamoDB throttling,
 * internal errors and transaction conflicts (through the fault proxy); crash points and random
 * kills of function environments; redelivered and reordered stream batches; and a second
 * update-queue invocation overlapping the first. It counts what it injected; faults still pending when the calm begins
 * are removed and not counted.
 */
import type { SqsChaos } from "../runner/sqs-local.js";
import type { DynamoDbFaultProxy, DynamoDbFaultRates } from "../dynamodb-fault-proxy.js";
import type { LambdaFunction } from "../runner/function-host.js";
import { scheduledEvent } from "../runner/schedules.js";
import type { PumpChaos } from "../stream-pump.js";
import { type Caller, type CrashPoint, type CrashPointSet, crashPoints } from "./crash-points.js";
import { between, chance, type Random } from "./random.js";
import { ServiceFaults, type ServiceFaultSettings, type ServiceFaultTargets } from "./service-faults.js";

/** How hard to push; probabilities are per step at full intensity. */
export interface ChaosSettings extends ServiceFaultSettings {
  /** Length of the fault phase; the calm phase follows. */
  chaosMs: number;
  stepMs: number;
  arvadosFault: number;
  ec2Fault: number;
  /** Arm a crash point (when none is armed for that caller). */
  crashPoint: number;
  /** Kill a busy environment of one of `killTargets` at a random moment. */
  randomKill: number;
  /** Start a second update-queue invocation alongside the first. */
  overlappingUpdate: number;
  /** A few seconds of DynamoDB errors at six times the base rate. */
  dynamodbBurst: number;
  dynamodb: DynamoDbFaultRates;
  pump: { redeliverRate: number; reorderRate: number };
  /** SQS's at-least-once delivery, broken: ticks and wake-ups lost, duplicated and late. */
  sqs: { loseRate: number; duplicateRate: number; lateRate: number; maxLateMs: number };
  /** Whose environments crash points may kill (a killed launch holds its pass lease for up to a minute). */
  crashCallers: readonly Caller[];
  /** Functions random kills may hit. */
  killTargets: readonly string[];
  /**
   * Least time between two kills of launch: a killed pass holds the launch-pass lease until it
   * expires (up to launch's 60 s timeout), so kills closer together would only stall launches,
   * not test recovery.
   */
  launchKillSpacingMs: number;
}

/** What the driver needs to reach. */
export interface ChaosTargets extends ServiceFaultTargets {
  dynamodb: DynamoDbFaultProxy;
  /** The very object the stream pump reads its chaos rates from. */
  pump: PumpChaos;
  /** The very object the local SQS reads its chaos rates from. */
  sqs: SqsChaos;
  crashPoints: CrashPointSet;
  functions: ReadonlyMap<string, LambdaFunction>;
  /** A second update-queue environment (its own lease owner), for overlapping invocations. */
  updateTwin: LambdaFunction;
  region: string;
}

/** Overlapping update-queue invocations and how each ended. */
export interface OverlapStats {
  pairs: number;
  /** Invocations that found the lease held and exited without polling (a clean exit). */
  exitedOnLease: number;
  /** Invocations that ran at least one update. */
  updated: number;
  failed: number;
}

/** Counts of what was injected (and took effect, for rules consumed by requests). */
export interface ChaosStats {
  arvados: Record<string, number>;
  ec2: Record<string, number>;
  randomKills: Record<string, number>;
  overlaps: OverlapStats;
  dynamodbBursts: number;
}

const burstMs = 3_000;

function add(counts: Record<string, number>, key: string, n: number): void {
  counts[key] = (counts[key] ?? 0) + n;
  if (counts[key] === 0) delete counts[key];
}

/** ChaosDriver runs the fault phase; see the module comment. */
export class ChaosDriver {
  readonly stats: ChaosStats;
  /** When the calm phase began (ms since start), once it has. */
  calmAtMs: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private burstUntil = 0;
  private lastLaunchKillAt = Number.NEGATIVE_INFINITY;
  /** Each caller's kill points in a seeded order, taken in turn so a run covers as many as it can. */
  private readonly rotation = new Map<Caller, CrashPoint[]>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly pendingKills = new Set<string>();

  private readonly services: ServiceFaults;

  constructor(
    private readonly targets: ChaosTargets,
    private readonly settings: ChaosSettings,
    private readonly random: Random,
  ) {
    this.services = new ServiceFaults(targets, settings, random);
    this.stats = {
      // The service counters themselves, so the stats are live.
      arvados: this.services.arvados,
      ec2: this.services.ec2,
      randomKills: {},
      overlaps: { pairs: 0, exitedOnLease: 0, updated: 0, failed: 0 },
      dynamodbBursts: 0,
    };
  }

  /** Starts the fault phase now. */
  start(now = Date.now()): void {
    this.startedAt = now;
    this.targets.pump.redeliverRate = this.settings.pump.redeliverRate;
    this.targets.pump.reorderRate = this.settings.pump.reorderRate;
    Object.assign(this.targets.sqs, this.settings.sqs);
    this.timer = setInterval(() => this.step(), this.settings.stepMs);
    this.step(now);
  }

  get calm(): boolean {
    return this.calmAtMs !== undefined;
  }

  /** One step: pick this step's faults, or begin the calm once the fault phase is over. */
  step(now = Date.now()): void {
    if (this.calm) return;
    const elapsed = now - this.startedAt;
    if (elapsed >= this.settings.chaosMs) {
      this.beginCalm(now);
      return;
    }
    // Frequent at first, a quarter as frequent by the end of the phase.
    const intensity = 1 - 0.75 * (elapsed / this.settings.chaosMs);
    const s = this.settings;
    const r = this.random;
    this.setDynamoDbRates(now, intensity);
    if (chance(r, s.arvadosFault * intensity)) this.services.arvadosFault(now);
    if (chance(r, s.ec2Fault * intensity)) this.services.ec2Fault();
    if (chance(r, s.crashPoint * intensity)) this.armCrashPoint(now);
    if (chance(r, s.randomKill * intensity)) this.randomKill(now);
    if (chance(r, s.overlappingUpdate * intensity)) this.overlappingUpdate(now);
  }

  /** Stops every fault: pending rules are removed (and uncounted), rates go to zero. */
  beginCalm(now = Date.now()): void {
    if (this.calm) return;
    this.calmAtMs = now - this.startedAt;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    const { dynamodb, pump, crashPoints: points } = this.targets;
    this.services.withdrawArvados();
    this.services.withdrawEc2();
    dynamodb.rates = {};
    pump.redeliverRate = 0;
    pump.reorderRate = 0;
    Object.assign(this.targets.sqs, { loseRate: 0, duplicateRate: 0, lateRate: 0 });
    points.disarm();
  }

  /** Ends the fault phase if still running and waits for the extra invocations it started. */
  async stop(): Promise<void> {
    this.beginCalm();
    await Promise.allSettled([...this.inFlight]);
  }

  private setDynamoDbRates(now: number, intensity: number): void {
    const s = this.settings;
    if (now >= this.burstUntil && chance(this.random, s.dynamodbBurst * intensity)) {
      this.burstUntil = now + burstMs;
      this.stats.dynamodbBursts++;
    }
    const factor = intensity * (now < this.burstUntil ? 6 : 1);
    this.targets.dynamodb.rates = Object.fromEntries(
      Object.entries(s.dynamodb).map(([kind, rate]) => [kind, rate * factor]),
    );
  }

  private mayKillLaunch(now: number): boolean {
    return now - this.lastLaunchKillAt >= this.settings.launchKillSpacingMs;
  }

  private armCrashPoint(now: number): void {
    const r = this.random;
    const points = this.targets.crashPoints;
    const callers = this.settings.crashCallers.filter((c) => c !== "launch" || this.mayKillLaunch(now));
    const caller = callers[Math.floor(r() * callers.length)];
    // A lost RunInstances reply kills nobody: always allowed, and the commonest.
    if (caller === undefined || chance(r, 0.4)) {
      points.arm("run-instances-reply-lost", "launch");
      return;
    }
    let order = this.rotation.get(caller);
    if (order === undefined || order.length === 0) {
      order = (Object.keys(crashPoints) as CrashPoint[]).filter((p) => {
        const { step, interception } = crashPoints[p];
        return interception !== "lose-reply" && (step === "lock" || caller === "launch");
      });
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [order[i], order[j]] = [order[j] as CrashPoint, order[i] as CrashPoint];
      }
      this.rotation.set(caller, order);
    }
    const point = order[0];
    if (point !== undefined && points.arm(point, caller)) {
      order.shift();
      if (caller === "launch") this.lastLaunchKillAt = now;
    }
  }

  /** Kills the next invocation of a random target a random moment after it starts (waiting up to 5 s for one). */
  private randomKill(now: number): void {
    const name = this.settings.killTargets[Math.floor(this.random() * this.settings.killTargets.length)];
    const target = name === undefined ? undefined : this.targets.functions.get(name);
    if (target === undefined || this.pendingKills.has(target.name)) return;
    if (name === "launch") {
      if (!this.mayKillLaunch(now)) return;
      this.lastLaunchKillAt = now;
    }
    this.pendingKills.add(target.name);
    const delayMs = between(this.random, 0, 300);
    const deadline = now + 5_000;
    const poll = () => {
      if (this.calm || Date.now() > deadline) {
        this.pendingKills.delete(target.name);
      } else if (target.stats.running > 0) {
        setTimeout(() => {
          this.pendingKills.delete(target.name);
          if (!this.calm && target.crash() > 0) add(this.stats.randomKills, target.name, 1);
        }, delayMs);
      } else {
        setTimeout(poll, 20);
      }
    };
    poll();
  }

  /**
   * A second invocation alongside the one running (or both at once if none is), as the watchdog
   * (update-queue's schedule): whichever does not hold the update lease must see it held, or the
   * tick chain alive, and exit without polling.
   */
  private overlappingUpdate(now: number): void {
    const { functions, updateTwin, region } = this.targets;
    const primary = functions.get("update-queue");
    if (primary === undefined || updateTwin.stats.running > 0) return;
    const event = () => scheduledEvent("update-queue-schedule", region, new Date(now));
    const invocations = [updateTwin.invoke(event())];
    if (primary.stats.running === 0) invocations.push(primary.invoke(event()));
    this.stats.overlaps.pairs++;
    for (const invocation of invocations) {
      const tracked = invocation.then(
        (result) => {
          // The watchdog's outcome (lib/ticks/update-tick.ts TickOutcome).
          if (result === "updated" || result === "failed") this.stats.overlaps.updated++;
          else this.stats.overlaps.exitedOnLease++;
        },
        () => {
          this.stats.overlaps.failed++;
        },
      );
      this.inFlight.add(tracked);
      void tracked.finally(() => this.inFlight.delete(tracked));
    }
  }
}
