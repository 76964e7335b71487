/**
 * What the soak shows while it runs and leaves behind after: container states for the progress
 * line and the end condition, and a post-mortem file with every container's end, every instance
 * and the Arvados requests about the containers that did not end Complete.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { isContainerState } from "../../lib/model/container.js";
import type { ArvadosSimulator } from "../arvados-sim/simulator.js";
import type { WorkloadPlayer } from "../runner/workload-player.js";
import type { FinalContainer } from "./invariants.js";
import type { InstanceLedger } from "./ledger.js";

/** Workload containers by state, as Arvados holds them. */
export function containerStates(arvados: ArvadosSimulator, player: WorkloadPlayer): Record<string, number> {
  const states: Record<string, number> = {};
  for (const s of player.submitted) {
    const state = arvados.getContainer(s.uuid)?.state ?? "missing";
    states[state] = (states[state] ?? 0) + 1;
  }
  return states;
}

/**
 * The launch intents launch repeated (a RunInstances call of unknown outcome sent again with its
 * own ClientToken), by what EC2's answer showed, counted from launch's "launch intent repeated"
 * log lines.
 */
export function intentRepeats(launchLog: string): Record<string, number> {
  const counts: Record<string, number> = {};
  if (!existsSync(launchLog)) return counts;
  for (const line of readFileSync(launchLog, "utf8").split("\n")) {
    if (!line.includes('"launch intent repeated"')) continue;
    try {
      const { message, outcome } = JSON.parse(line) as { message?: unknown; outcome?: unknown };
      if (message === "launch intent repeated" && typeof outcome === "string")
        counts[outcome] = (counts[outcome] ?? 0) + 1;
    } catch {
      // Not a log record (a line cut by a kill): not counted.
    }
  }
  return counts;
}

/** One progress line. */
export function progressLine(
  elapsedMs: number,
  calm: boolean,
  player: WorkloadPlayer,
  states: Record<string, number>,
  ledger: InstanceLedger,
): string {
  const byState = Object.entries(states)
    .filter(([state]) => isContainerState(state))
    .map(([state, n]) => `${state} ${n}`)
    .join(", ");
  return `${(elapsedMs / 1000).toFixed(0).padStart(5)} s ${calm ? "calm  " : "faults"} submitted ${player.submitted.length}/${player.total}: ${byState}; instances live ${ledger.live()}, created ${ledger.size}\n`;
}

/**
 * What a post-mortem needs, written next to the logs: every container's end, every instance
 * (times relative to the start), and the Arvados requests about containers that did not end
 * Complete (the simulator keeps the last 10,000 requests).
 */
export function writeFinalState(
  path: string,
  containers: readonly FinalContainer[],
  ledger: InstanceLedger,
  arvados: ArvadosSimulator,
  startedAt: number,
): void {
  const odd = new Set(containers.filter((c) => c.state !== "Complete").map((c) => c.uuid));
  const requests = arvados
    .requests()
    .filter((r) => [...odd].some((uuid) => r.path.includes(uuid)))
    .map((r) => ({ seq: r.seq, method: r.method, path: r.path, status: r.status, fault: r.fault }));
  const instances = ledger
    .all()
    .map((i) => ({ ...i, launchTime: i.launchTime - startedAt, stateChangedAt: i.stateChangedAt - startedAt }));
  writeFileSync(path, `${JSON.stringify({ containers, instances, requests }, null, 1)}\n`);
}
