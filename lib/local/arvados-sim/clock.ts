/**
 * Timestamps as the API renders them (`2024-05-01T12:00:00.123456789Z`, nanosecond digits),
 * strictly increasing within one simulator so `modified_at` orders changes the way they
 * happened even when several fall in the same millisecond.
 */

/** Renders nanoseconds since the epoch in the API's format. */
export function formatTimestamp(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const seconds = new Date(Number(ms)).toISOString().slice(0, 19);
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, "0");
  return `${seconds}.${fraction}Z`;
}

const isoPattern = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Parses a time the way a filter operand is read (upstream `Time.parse`) into the API format,
 * keeping up to nanosecond precision; undefined when the text holds no time.
 */
export function normalizeTimestamp(text: string): string | undefined {
  const match = isoPattern.exec(text.trim());
  if (match !== null) {
    const [, date, time, fraction = "", zone = "Z"] = match;
    const zoneText = zone === "Z" ? "Z" : zone.includes(":") ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
    const ms = Date.parse(`${date}T${time}${zoneText}`);
    if (Number.isNaN(ms)) return undefined;
    return formatTimestamp(BigInt(ms) * 1_000_000n + BigInt(fraction.padEnd(9, "0")));
  }
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : formatTimestamp(BigInt(ms) * 1_000_000n);
}

/** A SimClock hands out strictly increasing timestamps from a wall-clock source. */
export class SimClock {
  #last = 0n;
  constructor(private readonly source: () => Date = () => new Date()) {}

  /** The next timestamp: the source time, or 1 µs after the previous one if that is later. */
  now(): string {
    let ns = BigInt(this.source().getTime()) * 1_000_000n;
    if (ns <= this.#last) ns = this.#last + 1000n;
    this.#last = ns;
    return formatTimestamp(ns);
  }
}
