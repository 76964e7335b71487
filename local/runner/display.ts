/**
 * The live view of a local run: on a terminal, a compact block redrawn in place about every
 * second; otherwise (pipes, CI, --headless) one plain line every few seconds. Function logs
 * never reach it: they are in the log files.
 */
import type { PumpStats } from "../stream-pump.js";
import type { FunctionStats } from "./function-host.js";
import type { ProgressSnapshot } from "./progress.js";
import type { ScheduleStats } from "./schedules.js";

/** What the display shows besides the progress sample. */
export interface DisplayFrame {
  snapshot: ProgressSnapshot;
  functions: { name: string; stats: FunctionStats; schedule?: ScheduleStats }[];
  pump: PumpStats;
  streamFailures: number;
}

/** Where the display writes: a stream, with `isTTY`/`columns` when it is a terminal. */
export interface DisplayOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

function counts(record: Record<string, number>, order: readonly string[] = []): string {
  const keys = [
    ...order.filter((k) => k in record),
    ...Object.keys(record)
      .filter((k) => !order.includes(k))
      .sort(),
  ];
  return keys.map((k) => `${k} ${record[k]}`).join("  ") || "none";
}

const containerOrder = ["Queued", "Locked", "Running", "Complete", "Cancelled"];
const instanceOrder = ["pending", "running", "shutting-down", "terminated"];

/** The status block's lines; `top` containers are listed, waiting ones first. */
export function renderFrame(frame: DisplayFrame, top: number): string[] {
  const s = frame.snapshot;
  const errors = Object.values(s.runInstancesErrors).reduce((a, b) => a + b, 0);
  const lines = [
    `t=${(s.elapsedMs / 1000).toFixed(0)}s  submitted ${s.submitted}/${s.total}`,
    `containers  ${counts(s.containersByState, containerOrder)}`,
    `queue table ${s.queueEntries} entries    instances ${counts(s.instancesByState, instanceOrder)}`,
    `launches ${s.launches}    RunInstances errors ${errors}${errors > 0 ? ` (${counts(s.runInstancesErrors)})` : ""}`,
    `functions   ${frame.functions
      .map(
        (f) =>
          `${f.name} ${f.stats.invocations}${f.stats.running > 0 ? "*" : ""}${f.stats.errors > 0 ? ` (${f.stats.errors} failed)` : ""}`,
      )
      .join("  ")}`,
    `stream      ${frame.pump.recordsRead} records read, ${frame.pump.invocations} deliveries, ${frame.streamFailures} given up`,
    "",
  ];
  const shown = s.containers.slice(0, top);
  const labelWidth = Math.max(9, ...shown.map((c) => c.label.length));
  for (const c of shown) {
    lines.push(
      `  ${c.label.padEnd(labelWidth)}  ${c.state.padEnd(9)}  ${(c.instanceType ?? "-").padEnd(15)}  ${c.note}`,
    );
  }
  if (s.containers.length > shown.length) lines.push(`  ... and ${s.containers.length - shown.length} more`);
  return lines;
}

/** One line for logs and CI. */
export function renderLine(frame: DisplayFrame): string {
  const s = frame.snapshot;
  const errors = Object.values(s.runInstancesErrors).reduce((a, b) => a + b, 0);
  return `[${(s.elapsedMs / 1000).toFixed(0).padStart(4)}s] containers: ${counts(s.containersByState, containerOrder)} | queue ${s.queueEntries} | instances: ${counts(s.instancesByState, instanceOrder)} | launches ${s.launches} | RunInstances errors ${errors}`;
}

/** LiveDisplay draws frames: redrawn in place on a terminal, plain lines at most every `plainEveryMs` otherwise. */
export class LiveDisplay {
  private drawn = 0;
  private lastPlain = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly out: DisplayOutput,
    private readonly options: { live: boolean; top: number; plainEveryMs: number },
  ) {}

  /** Draws `frame` (plain mode: only if the last line is old enough, or `force`). */
  update(frame: DisplayFrame, force = false): void {
    if (this.options.live && this.out.isTTY === true) {
      // A pseudo-terminal may report 0 columns: then assume a usual width.
      const columns = this.out.columns !== undefined && this.out.columns > 0 ? this.out.columns : 120;
      const width = Math.max(40, columns - 1);
      const lines = renderFrame(frame, this.options.top).map((l) =>
        l.length > width ? `${l.slice(0, width - 1)}…` : l,
      );
      // Back to the top of the previous block, clear it, draw the new one.
      const rewind = this.drawn > 0 ? `\x1b[${this.drawn}F\x1b[0J` : "";
      this.out.write(`${rewind}${lines.join("\n")}\n`);
      this.drawn = lines.length;
      return;
    }
    const now = frame.snapshot.elapsedMs;
    if (!force && now - this.lastPlain < this.options.plainEveryMs) return;
    this.lastPlain = now;
    this.out.write(`${renderLine(frame)}\n`);
  }

  /** Leaves the last block on screen; later output starts below it. */
  finish(): void {
    this.drawn = 0;
  }

  /** Prints a message above the live block without breaking the redraw. */
  message(text: string): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}F\x1b[0J`);
    this.drawn = 0;
    this.out.write(`${text}\n`);
  }
}
