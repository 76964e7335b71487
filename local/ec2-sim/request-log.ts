import type { QueryParams } from "./query-params.js";

/** One EC2 call as the simulator saw it, with secrets redacted. */
export interface LoggedRequest {
  seq: number;
  action: string;
  params: Record<string, string>;
  /** The EC2 error code answered, if the call failed. */
  error?: string;
  /** Epoch ms the call arrived (a pool worker's later assignments are CreateTags calls: their times). */
  at?: number;
}

// Tag values under keys like these, and all user data, never reach the log.
const secretKey = /secret|token|password/i;

/** The parameters of a call with user data and secret-looking tag values replaced. */
export function redactParams(q: QueryParams): Record<string, string> {
  const raw = Object.fromEntries(q.entries());
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (k === "UserData") {
      out[k] = `[redacted ${v.length} chars]`;
    } else if (k.endsWith(".Value") && secretKey.test(raw[`${k.slice(0, -".Value".length)}.Key`] ?? "")) {
      out[k] = "[redacted]";
    } else {
      out[k] = v;
    }
  }
  return out;
}

/** RequestLog keeps the most recent calls (bounded, so a long benchmark cannot exhaust memory). */
export class RequestLog {
  private entries: LoggedRequest[] = [];
  private seq = 0;

  constructor(private readonly limit = 10_000) {}

  add(action: string, q: QueryParams): LoggedRequest {
    const e: LoggedRequest = { seq: ++this.seq, action, params: redactParams(q), at: Date.now() };
    this.entries.push(e);
    if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit);
    return e;
  }

  list(): LoggedRequest[] {
    return this.copies(this.entries);
  }

  /** The calls logged after call `seq`: a reader polling the log copies only what is new. */
  since(seq: number): LoggedRequest[] {
    let start = this.entries.length;
    while (start > 0 && (this.entries[start - 1]?.seq ?? 0) > seq) start--;
    return this.copies(this.entries.slice(start));
  }

  private copies(entries: readonly LoggedRequest[]): LoggedRequest[] {
    return entries.map((e) => ({ ...e, params: { ...e.params } }));
  }

  clear(): void {
    this.entries = [];
  }
}
