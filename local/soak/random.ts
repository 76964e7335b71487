/**
 * Seeded randomness for the fault soak: the same seed gives the same workload and the same
 * fault decisions at each step, so a failing run can be replayed. (The system under test still
 * interleaves by wall-clock timing, so a replay repeats the faults, not every interleaving.)
 */

/** A source of numbers in [0, 1). */
export type Random = () => number;

/** mulberry32: small, fast, and good enough to drive a fault schedule. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * An independent stream per consumer (workload, Arvados faults, DynamoDB proxy, ...), derived
 * from the run's seed and a label, so adding draws in one consumer does not shift the others.
 */
export function forkRandom(seed: number, label: string): Random {
  let h = seed >>> 0;
  for (const ch of label) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return seededRandom(h);
}

/** True with probability `p`. */
export function chance(random: Random, p: number): boolean {
  return p > 0 && random() < p;
}

/** An integer in [min, max]. */
export function between(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** One element of a non-empty list. */
export function pick<T>(random: Random, items: readonly [T, ...T[]]): T {
  return items[Math.floor(random() * items.length)] ?? items[0];
}
