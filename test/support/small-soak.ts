/**
 * The fault mix of the in-suite soaks (soak.test.ts, soak-pool.test.ts): every kind of fault
 * whose designed recovery fits a run of a minute or two (see soak.test.ts for what is left out
 * and why), often enough that a 25 s fault phase sees each kind.
 */
import type { ChaosSettings } from "../../local/soak/chaos.js";

export const smallSoakChaos: Partial<ChaosSettings> = {
  // No fault whose designed back-off is a minute or more.
  ec2Faults: ["subnet-addresses", "request-limit"],
  statuses: [500, 502, 504],
  poll503Bursts: false,
  timeouts: false,
  crashCallers: ["choose-instance-types"],
  killTargets: ["choose-instance-types", "cleanup"],
  // Often enough that a 25 s fault phase sees each kind.
  crashPoint: 0.3,
  randomKill: 0.15,
  // A run converging in about a minute sees few batches and updates: often enough that each
  // kind still happens (the checks ask for at least one).
  overlappingUpdate: 0.5,
  pump: { redeliverRate: 0.4, reorderRate: 0.5 },
  // Ticks and wake-ups: a lost one costs the chain a watchdog period (5 s here).
  // One tick per PollInterval and wake-ups relayed on the same queue: few messages in 25 s.
  sqs: { loseRate: 0.2, duplicateRate: 0.5, lateRate: 0.5, maxLateMs: 3_000 },
};
