/**
 * Timestamps as the API renders them. PostgreSQL stores microseconds and the API server
 * formats every time with `strftime "%Y-%m-%dT%H:%M:%S.%NZ"` (upstream
 * `config/initializers/time_format.rb`), so a time is RFC 3339 UTC with nine fractional digits
 * of which the last three are always 0: `2026-12-07T07:02:31.123456000Z`. A simulator's
 * timestamps are strictly increasing, so `modified_at` orders changes the way they happened
 * even when several fall in the same microsecond.
 */

/** Renders microseconds since the epoch in the API's format. */
export function formatTimestamp(micros: bigint): string {
  const ms = micros / 1000n;
  const seconds = new Date(Number(ms)).toISOString().slice(0, 19);
  const fraction = (micros % 1_000_000n).toString().padStart(6, "0");
  return `${seconds}.${fraction}000Z`;
}

const isoPattern = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Parses a time the way a written value or a filter operand is read (upstream `Time.parse`,
 * then Rails' microsecond precision, which truncates) into the API format; undefined when the
 * text holds no time.
 */
export function normalizeTimestamp(text: string): string | undefined {
  const match = isoPattern.exec(text.trim());
  if (match !== null) {
    const [, date, time, fraction = "", zone = "Z"] = match;
    const zoneText = zone === "Z" ? "Z" : zone.includes(":") ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
    const ms = Date.parse(`${date}T${time}${zoneText}`);
    if (Number.isNaN(ms)) return undefined;
    return formatTimestamp(BigInt(ms) * 1000n + BigInt(fraction.padEnd(6, "0").slice(0, 6)));
  }
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : formatTimestamp(BigInt(ms) * 1000n);
}

/**
 * The wall clock in epoch microseconds: `performance.timeOrigin + performance.now()` carries
 * the sub-millisecond part that `Date.now()` drops, as a database's `now()` does.
 */
export function wallClockMicros(): bigint {
  return BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000));
}

/** A SimClock hands out strictly increasing timestamps from a wall-clock source. */
export class SimClock {
  #last = 0n;
  readonly #micros: () => bigint;

  /** `source` (a test's fixed or stepped clock) replaces the microsecond wall clock. */
  constructor(source?: () => Date) {
    this.#micros = source === undefined ? wallClockMicros : () => BigInt(source().getTime()) * 1000n;
  }

  /** The next timestamp: the source time, or 1 µs after the previous one if that is later. */
  now(): string {
    let micros = this.#micros();
    if (micros <= this.#last) micros = this.#last + 1n;
    this.#last = micros;
    return formatTimestamp(micros);
  }
}
