/**
 * Faults in the simulated services: Arvados API errors (5xx, 503 bursts, slow replies and replies
 * slower than the client's timeout, malformed, truncated and dropped replies) and EC2 RunInstances
 * errors (capacity, subnet, quota, throttling), injected as the simulators' "fail the next
 * matching request" rules and counted by kind. Rules withdrawn before a request took them are
 * subtracted again, so the counts are of faults that took effect.
 */
import type { FaultRule } from "../arvados-sim/faults.js";
import type { ArvadosSimulator } from "../arvados-sim/simulator.js";
import type { Ec2Simulator, FaultSpec } from "../ec2-sim/index.js";
import { between, chance, pick, type Random } from "./random.js";

/** The EC2 errors the driver can inject. */
export type Ec2FaultKind =
  | "type-capacity"
  | "subnet-capacity"
  | "subnet-addresses"
  | "instance-limit"
  | "vcpu-limit"
  | "request-limit";

/** Which service faults, and how. */
export interface ServiceFaultSettings {
  /**
   * Which EC2 errors to inject. Quota errors (instance-limit, vcpu-limit) stop launches for up to
   * a minute by design (§4.1 AtQuota, quota-group capacity), which a short run cannot absorb.
   */
  ec2Faults: readonly [Ec2FaultKind, ...Ec2FaultKind[]];
  /**
   * HTTP statuses of single Arvados errors. A 503 seen by launch also shrinks the dynamic
   * concurrency limit for a minute (§3.3 quietAfter503), which slows a short run a lot.
   */
  statuses: readonly [number, ...number[]];
  /**
   * Bursts of 503 on the queue poll. Every function shares the 503s it sees (§3.3), so a burst
   * seen by update-queue holds launch's dynamic limit low for a quiet minute too.
   */
  poll503Bursts: boolean;
  /** Arvados replies slower than the client's timeout (`clientTimeoutMs`), at most one at a time. */
  timeouts: boolean;
  clientTimeoutMs: number;
}

/** The simulators, and what EC2 errors may name. */
export interface ServiceFaultTargets {
  arvados: ArvadosSimulator;
  ec2: Ec2Simulator;
  instanceTypes: readonly [string, ...string[]];
  subnets: readonly [string, ...string[]];
}

const routes = {
  list: "GET /arvados/v1/containers",
  get: "GET /arvados/v1/containers/*",
  lock: "POST /arvados/v1/containers/*/lock",
  unlock: "POST /arvados/v1/containers/*/unlock",
  update: "PUT /arvados/v1/containers/*",
  current: "GET /arvados/v1/api_client_authorizations/current",
} as const;
const anyRoute = Object.values(routes) as [string, ...string[]];
const burstMessage = "soak: 503 burst";
const timeoutSpacingMs = 65_000;
// Simulator faults wait for the next matching request. RunInstances and locks come a few a second
// at most, and not at all while launches back off, so unconsumed faults would pile up and fail
// every call once launches resume; and one for a type nobody asks for would wait forever. So a
// few are pending at a time, and when the set is full the old ones are withdrawn (uncounted).
const maxPendingEc2Faults = 2;
const maxPendingArvadosFaults = 6;

/** The report name of an Arvados fault rule (also for the rules still pending at the calm). */
export function arvadosFaultKind(rule: FaultRule, clientTimeoutMs: number): string {
  const e = rule.effect;
  switch (e.kind) {
    case "status":
      return e.message === burstMessage ? "503 burst" : `HTTP ${e.status}`;
    case "delay":
      return e.ms > clientTimeoutMs ? "reply slower than the client timeout" : "slow reply";
    case "truncated":
      return rule.route === routes.lock ? "truncated lock reply" : "truncated reply";
    case "malformed":
      return "malformed reply";
    case "reset":
      return "connection reset";
    case "replace":
      return "replaced reply";
  }
}

function add(counts: Record<string, number>, key: string, n: number): void {
  counts[key] = (counts[key] ?? 0) + n;
  if (counts[key] === 0) delete counts[key];
}

/** ServiceFaults injects into both simulators and counts, by kind, what took effect. */
export class ServiceFaults {
  readonly arvados: Record<string, number> = {};
  readonly ec2: Record<string, number> = {};
  private lastTimeoutAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly targets: ServiceFaultTargets,
    private readonly settings: ServiceFaultSettings,
    private readonly random: Random,
  ) {}

  /** Removes the pending Arvados faults; what they would still have failed is not counted. */
  withdrawArvados(): void {
    const arvados = this.targets.arvados;
    for (const rule of arvados.pendingFaults())
      add(this.arvados, arvadosFaultKind(rule, this.settings.clientTimeoutMs), -(rule.count ?? 1));
    arvados.clearFaults();
  }

  /** Removes the pending EC2 faults, likewise. */
  withdrawEc2(): void {
    const ec2 = this.targets.ec2;
    for (const fault of ec2.faults()) add(this.ec2, fault.code, -(fault.times ?? 0));
    ec2.clearFaults();
  }

  private injectArvados(rule: FaultRule): void {
    this.targets.arvados.injectFault(rule);
    add(this.arvados, arvadosFaultKind(rule, this.settings.clientTimeoutMs), rule.count ?? 1);
  }

  /** Queues one Arvados fault of a random kind. */
  arvadosFault(now: number): void {
    if (this.targets.arvados.pendingFaults().length >= maxPendingArvadosFaults) this.withdrawArvados();
    const r = this.random;
    const roll = r();
    if (roll < 0.3) {
      this.injectArvados({
        route: pick(r, anyRoute),
        count: between(r, 1, 2),
        effect: { kind: "status", status: pick(r, this.settings.statuses) },
      });
    } else if (roll < 0.4 && this.settings.poll503Bursts) {
      this.injectArvados({
        route: routes.list,
        count: between(r, 3, 8),
        effect: { kind: "status", status: 503, message: burstMessage },
      });
    } else if (roll < 0.55) {
      this.injectArvados({ route: pick(r, anyRoute), effect: { kind: "delay", ms: between(r, 500, 4_000) } });
    } else if (roll < 0.62 && this.settings.timeouts && now - this.lastTimeoutAt > timeoutSpacingMs) {
      // One at a time: a reply slower than the timeout costs the caller the whole timeout.
      this.lastTimeoutAt = now;
      this.injectArvados({
        route: pick(r, [routes.get, routes.list, routes.lock]),
        effect: { kind: "delay", ms: this.settings.clientTimeoutMs + 1_000 },
      });
    } else if (roll < 0.72) {
      this.injectArvados({ route: pick(r, anyRoute), effect: { kind: "malformed" } });
    } else if (roll < 0.87) {
      // Half of them on lock: the container is locked, the dispatcher never hears of it.
      this.injectArvados({ route: chance(r, 0.5) ? routes.lock : pick(r, anyRoute), effect: { kind: "truncated" } });
    } else {
      this.injectArvados({ route: pick(r, anyRoute), effect: { kind: "reset" } });
    }
  }

  private injectEc2(spec: FaultSpec): void {
    this.targets.ec2.injectFault(spec);
    add(this.ec2, spec.code, spec.times ?? 1);
  }

  /** Queues one EC2 error of a random kind among the configured ones. */
  ec2Fault(): void {
    if (this.targets.ec2.faults().length >= maxPendingEc2Faults) this.withdrawEc2();
    const r = this.random;
    this.injectEc2(this.ec2FaultSpec(r));
  }

  private ec2FaultSpec(r: Random): FaultSpec {
    const { instanceTypes, subnets } = this.targets;
    switch (pick(r, this.settings.ec2Faults)) {
      case "type-capacity":
        return { code: "InsufficientInstanceCapacity", instanceType: pick(r, instanceTypes), times: between(r, 1, 3) };
      case "subnet-capacity":
        return { code: "InsufficientInstanceCapacity", subnetId: pick(r, subnets), times: between(r, 1, 2) };
      case "subnet-addresses":
        return { code: "InsufficientFreeAddressesInSubnet", subnetId: pick(r, subnets), times: between(r, 1, 2) };
      case "instance-limit":
        return { code: "InstanceLimitExceeded", times: 1 };
      case "vcpu-limit":
        return { code: "VcpuLimitExceeded", instanceType: pick(r, instanceTypes), times: 1 };
      case "request-limit":
        return { code: "RequestLimitExceeded", times: between(r, 1, 3) };
    }
  }
}
