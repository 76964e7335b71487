/**
 * `npm run soak [-- options]`: the fault soak. Runs the whole dispatcher locally (the built
 * handlers, DynamoDB Local, the Arvados and EC2 simulators) on a seeded workload while faults are
 * injected at random for the first part of the run, then lets it converge, and checks that
 * nothing was lost or duplicated. Prints figures and one PASS/FAIL line per invariant; exits 1
 * if any invariant fails. Run `npm run build` first (the soak drives dist/).
 *
 *   --containers N      workload size (default 800)
 *   --seed N            fault and workload seed (default: random, printed)
 *   --minutes M         time limit (default 15)
 *   --chaos-seconds S   length of the fault phase (default 240)
 *   --submit-seconds S  submissions spread over this long (default 240)
 *   --no-launch-crashes crash points and kills never hit launch (see README "Reliability")
 *   --no-timeouts       no Arvados replies slower than the client's timeout
 *   --worker-mode M     per-container (default) or pool: workers that outlive containers, run by
 *                       the real agent, with their own faults and invariants (README "Reliability")
 *   --timeout-idle S    pool mode: CloudVMs.TimeoutIdle in seconds (default 30)
 */
import { parseArgs } from "node:util";
import { printTable, environmentFacts } from "./harness.js";
import { formatSoakReport } from "../local/soak/report.js";
import { runSoak } from "../local/soak/soak-run.js";
import { workerModeFromEnv } from "../lib/runtime/worker-mode.js";

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, not ${value}`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      containers: { type: "string" },
      seed: { type: "string" },
      minutes: { type: "string" },
      "chaos-seconds": { type: "string" },
      "submit-seconds": { type: "string" },
      "no-launch-crashes": { type: "boolean", default: false },
      "no-timeouts": { type: "boolean", default: false },
      "worker-mode": { type: "string" },
      "timeout-idle": { type: "string" },
    },
    strict: true,
  });
  const seed =
    values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Math.floor(positive("seed", values.seed, 1));
  const noLaunchCrashes = values["no-launch-crashes"] === true;
  const workerMode =
    values["worker-mode"] === undefined ? undefined : workerModeFromEnv({ WORKER_MODE: values["worker-mode"] });
  printTable("environment", ["fact", "value"], environmentFacts());
  const result = await runSoak({
    containers: Math.floor(positive("containers", values.containers, 800)),
    seed,
    timeLimitMs: positive("minutes", values.minutes, 15) * 60_000,
    chaosMs: positive("chaos-seconds", values["chaos-seconds"], 240) * 1000,
    submitWindowMs: positive("submit-seconds", values["submit-seconds"], 240) * 1000,
    chaos: {
      timeouts: values["no-timeouts"] !== true,
      ...(noLaunchCrashes
        ? { crashCallers: ["choose-instance-types"], killTargets: ["choose-instance-types", "cleanup"] }
        : {}),
    },
    progressEveryMs: 15_000,
    ...(workerMode === undefined ? {} : { workerMode }),
    ...(values["timeout-idle"] === undefined
      ? {}
      : { timeoutIdleMs: positive("timeout-idle", values["timeout-idle"], 30) * 1000 }),
  });
  console.log(formatSoakReport(result));
  return result.invariants.every((i) => i.pass) ? 0 : 1;
}

process.exitCode = await main();
