/**
 * Our pace for RunInstances: EC2's documented bucket is burst 5, refilled 2 per second; one token
 * of headroom absorbs the few milliseconds between taking a token here and EC2 counting the call
 * (the benchmark saw an occasional throttle at exactly 5, none at 4).
 */
export const runInstancesBucket = { capacity: 4, refillPerSecond: 2 } as const;
