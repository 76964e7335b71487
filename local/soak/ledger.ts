/**
 * The InstanceLedger remembers every instance the EC2 simulator ever listed, by id, with its
 * container tag and ClientToken, so the "one instance per lock" count covers instances that
 * ended long ago too; and it counts RunInstances errors by code from the simulator's request
 * log, reading only what is new each time.
 */
import type { Ec2Simulator, SimInstance } from "../ec2-sim/index.js";
import type { CreatedInstance } from "./invariants.js";

/** What the ledger keeps of one instance: enough to tell its story after a failed invariant. */
export interface LedgerInstance extends CreatedInstance {
  instanceType: string;
  subnetId: string;
  launchTime: number;
  stateChangedAt: number;
  stateReason?: string;
}

/** InstanceLedger: call observe() often (every second or so); read the figures at the end. */
export class InstanceLedger {
  readonly runInstancesErrors: Record<string, number> = {};
  private readonly instances = new Map<string, LedgerInstance>();
  private lastRequestSeq = 0;

  constructor(
    private readonly ec2: Ec2Simulator,
    private readonly tagKey: string,
    /** `<TagKeyPrefix>Worker`: its value `pool` marks a pool worker. */
    private readonly workerTagKey?: string,
  ) {}

  /** Reads the simulator's instances and the request log entries added since the last call. */
  observe(): void {
    // Only instances new or changed since the last look: the simulator keeps terminated ones an hour.
    const changed = (i: Readonly<SimInstance>) => this.instances.get(i.instanceId)?.state !== i.state;
    for (const i of this.ec2.instancesWhere(changed)) {
      const containerUuid = i.tags[this.tagKey];
      this.instances.set(i.instanceId, {
        instanceId: i.instanceId,
        ...(containerUuid === undefined ? {} : { containerUuid }),
        ...(i.clientToken === undefined ? {} : { clientToken: i.clientToken }),
        state: i.state,
        ...(this.workerTagKey !== undefined && i.tags[this.workerTagKey] === "pool" ? { worker: true } : {}),
        instanceType: i.instanceType,
        subnetId: i.subnetId,
        launchTime: i.launchTime,
        stateChangedAt: i.stateChangedAt,
        ...(i.stateReason === undefined ? {} : { stateReason: i.stateReason.code }),
      });
    }
    for (const request of this.ec2.requestsSince(this.lastRequestSeq)) {
      this.lastRequestSeq = request.seq;
      if (request.action === "RunInstances" && request.error !== undefined) {
        this.runInstancesErrors[request.error] = (this.runInstancesErrors[request.error] ?? 0) + 1;
      }
    }
  }

  /** Every instance seen, with its latest state. */
  all(): LedgerInstance[] {
    return [...this.instances.values()].map((i) => ({ ...i }));
  }

  /** Instances pending or running now (as of the last observe). */
  live(): number {
    let n = 0;
    for (const i of this.instances.values()) if (i.state === "pending" || i.state === "running") n++;
    return n;
  }

  get size(): number {
    return this.instances.size;
  }

  /** The longest time without an instance launch, from `since` to the last launch (0 with none). */
  longestLaunchGapMs(since: number): number {
    const times = [since, ...[...this.instances.values()].map((i) => i.launchTime).sort((a, b) => a - b)];
    let gap = 0;
    for (let k = 1; k < times.length; k++) gap = Math.max(gap, (times[k] ?? 0) - (times[k - 1] ?? 0));
    return gap;
  }
}
