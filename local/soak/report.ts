/** The soak's figures as text: what was injected, what the system did, and each invariant's verdict. */
import type { SoakResult } from "./soak-run.js";

function counts(record: Readonly<Record<string, number>>): string {
  const entries = Object.entries(record).filter(([, n]) => n > 0);
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  return entries.length === 0 ? "none" : `${total} (${entries.map(([k, n]) => `${k} ${n}`).join(", ")})`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The whole report, one fact per line. */
export function formatSoakReport(r: SoakResult): string {
  const f = r.faults;
  const o = f.overlaps;
  const fn = (name: string) => {
    const s = r.functions[name];
    return s === undefined
      ? "-"
      : `${s.invocations} invocations, ${s.errors} failed, ${s.timeouts} timed out, ${s.coldStarts} cold starts`;
  };
  const lines = [
    "",
    `Soak seed ${r.seed}: ${r.containers} containers (${r.unsatisfiable} unsatisfiable), ${r.workerMode} mode`,
    `Duration: ${seconds(r.durationMs)} (faults for ${seconds(r.calmAtMs)}, then calm; ${
      r.convergedAfterCalmMs === undefined
        ? "did NOT converge before the time limit"
        : `converged ${seconds(r.convergedAfterCalmMs)} into the calm`
    })`,
    "Faults injected (and taken by a request):",
    `  Arvados:            ${counts(f.arvados)}`,
    `  EC2:                ${counts(f.ec2)}; plus ${f.ec2Throttled} RunInstances refused by EC2's token bucket; DescribeInstances ${seconds(f.ec2ListingLagMs)} behind`,
    `  DynamoDB:           ${counts(f.dynamodb)} (${f.dynamodbBursts} bursts at 6x)`,
    `  crash points:       ${counts(f.crashPoints)}; environments killed ${f.environmentsKilled}; ${f.crashesMissed} came after the caller had finished`,
    `  random kills:       ${counts(f.randomKills)}`,
    `  stream batches:     ${f.stream.redelivered} redelivered, ${f.stream.reordered} reordered`,
    `  SQS messages:       ${f.sqs.lost} lost, ${f.sqs.duplicated} duplicated, ${f.sqs.late} late (ticks and launch wake-ups)`,
    `  spot interruptions: ${f.spot.warned} warnings to cleanup; ${f.spot.reclaimed} instances EC2 reclaimed itself at the end of one`,
    `  overlapping update: ${o.pairs} overlaps; ${o.exitedOnLease} invocations found the lease held and exited cleanly, ${o.updated} updated, ${o.failed} failed`,
    ...(r.workers === undefined
      ? []
      : [
          `  pool workers:       ${r.workers.faults.instancesKilled} killed by EC2 (${r.workers.faults.killedBusy} running a container), ${r.workers.faults.agentsNeverBooting} agents never started, ${r.workers.faults.tagsLost} order tags refused (CreateTags), ${r.workers.faults.tagsLate} order tags late in IMDS`,
          `Workers (TimeoutIdle ${seconds(r.workers.timeoutIdleMs)}): agents ${r.workers.agents.started} started, ${r.workers.agents.exited} powered off by themselves, ${r.workers.agents.stopped} ended with their instance; crunch-run ${r.workers.crunchRun.started} started, ${r.workers.crunchRun.completed} completed, ${r.workers.crunchRun.cancelled} cancelled, ${r.workers.crunchRun.failedToStart} failed to start, ${r.workers.crunchRun.refused} refused (already running there)`,
        ]),
    `Launches: ${r.launches.instancesCreated} instances created, ${r.launches.runInstancesCalls} RunInstances calls; errors ${counts(r.launches.runInstancesErrors)}; longest time without a launch ${seconds(r.launches.longestLaunchGapMs)}`,
    `  launch intents repeated: ${counts(r.launches.intentRepeats)}`,
    ...Object.keys(r.functions).map((name) => `  ${name.padEnd(34)} ${fn(name)}`),
    `Stream: ${r.pump.recordsRead} records read (${r.pump.readErrors} failed reads), ${r.pump.invocations} deliveries (${r.pump.failedInvocations} failed), ${r.streamRecordsGivenUp} records given up on`,
    "Invariants:",
    ...r.invariants.flatMap((i) => [
      `  ${i.pass ? "PASS" : "FAIL"}  ${i.name}: ${i.figures}`,
      ...i.examples.map((e) => `          e.g. ${e}`),
    ]),
    `Logs: ${r.logDir}`,
    "",
  ];
  return lines.join("\n");
}
