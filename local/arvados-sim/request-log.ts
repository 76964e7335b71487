/**
 * The simulator's request log: what each API request asked for, as the server decoded it, so
 * tests can check a client's traffic. It records the token's uuid, never the token.
 */
import type { DecodedRequest } from "./params.js";

/** One API request as the simulator saw it: the decoded request and what became of it. */
export interface RequestLogEntry extends DecodedRequest {
  /** 1, 2, 3... in arrival order. */
  seq: number;
  /** The uuid of the token presented, or null if none was valid. */
  tokenUuid: string | null;
  requestId: string;
  /** The reply status; 0 until replied (or when the connection was reset). */
  status: number;
  /** The injected fault applied, if any. */
  fault: string | undefined;
}

/** A RequestLog keeps the most recent `limit` entries. */
export class RequestLog {
  #entries: RequestLogEntry[] = [];
  #seq = 0;

  constructor(private readonly limit = 10_000) {}

  /** Records a request; returns the entry so its status can be filled in. */
  add(entry: Omit<RequestLogEntry, "seq" | "status">): RequestLogEntry {
    this.#seq += 1;
    const full: RequestLogEntry = { ...entry, seq: this.#seq, status: 0 };
    this.#entries.push(full);
    if (this.#entries.length > this.limit) this.#entries.splice(0, this.#entries.length - this.limit);
    return full;
  }

  /** The entries, oldest first (copies). */
  entries(): RequestLogEntry[] {
    return this.#entries.map((e) => ({ ...e }));
  }

  clear(): void {
    this.#entries = [];
  }
}
