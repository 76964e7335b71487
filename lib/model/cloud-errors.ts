/**
 * Typed EC2 errors (§4.3 `wrapError`): every failure of an EC2 call leaves lib/cloud as one of
 * these classes, so callers branch on a class and its fields, never on message text.
 *
 * The three classified errors extend `Ec2Error`, so `catch (e) { if (e instanceof Ec2Error) }`
 * sees them all; test the specific classes first.
 */

/**
 * Who failed: `client` = EC2 answered 4xx (the request definitely did nothing);
 * `server` = EC2 answered 5xx; `transport` = no usable reply (connection refused, timeout).
 * After `server` or `transport` the outcome of a mutating call is unknown: retry it with the
 * same ClientToken rather than a new request.
 */
export type Ec2Fault = "client" | "server" | "transport";

/**
 * What a failed mutating call (RunInstances with a ClientToken) did, as far as the reply tells:
 * `failed` = EC2 answered with an error that proves it started nothing (a client error, or a
 * capacity, quota or throttle code, whatever its HTTP status: InsufficientInstanceCapacity comes
 * with a 500); `unknown` = it may have started something (no reply, a timeout, an internal or
 * unavailable server error, or a token EC2 binds to an earlier request with other parameters);
 * `terminated` = the token's earlier request started an instance that has terminated since.
 */
export type Ec2CallOutcome = "failed" | "unknown" | "terminated";

/** The facts every Ec2Error carries. */
export interface Ec2ErrorFacts {
  /** The EC2 error code (`InsufficientInstanceCapacity`, ...) or, with no reply, the JS error code/name. */
  code: string;
  message: string;
  fault: Ec2Fault;
  /** What the failed call did (meaningful for RunInstances; see Ec2CallOutcome). */
  outcome: Ec2CallOutcome;
  httpStatusCode?: number;
  /**
   * The throttle delay to store for the next call of the same kind (§4.3: Create and Instances
   * keep separate state). 0 means "not throttled".
   */
  throttleDelayMs: number;
  /** The subnet of the call that produced this error (launchInstance only). */
  subnetId?: string;
  /** The subnet index to store for the next launch (launchInstance only, §4.3 subnet loop). */
  nextSubnetIndex?: number;
  cause?: unknown;
}

/** An Ec2Error is a failed EC2 call that is neither throttle, quota nor capacity: the raw error, typed. */
export class Ec2Error extends Error {
  override readonly name: string = "Ec2Error";
  readonly code: string;
  readonly fault: Ec2Fault;
  readonly outcome: Ec2CallOutcome;
  readonly httpStatusCode: number | undefined;
  readonly throttleDelayMs: number;
  readonly subnetId: string | undefined;
  readonly nextSubnetIndex: number | undefined;

  constructor(facts: Ec2ErrorFacts) {
    super(`${facts.code}: ${facts.message}`, { cause: facts.cause });
    this.code = facts.code;
    this.fault = facts.fault;
    this.outcome = facts.outcome;
    this.httpStatusCode = facts.httpStatusCode;
    this.throttleDelayMs = facts.throttleDelayMs;
    this.subnetId = facts.subnetId;
    this.nextSubnetIndex = facts.nextSubnetIndex;
  }
}

/**
 * An Ec2ThrottleError is EC2 refusing a call for its request rate (§4.3 rateLimitError): make
 * no call of the same kind before `earliestRetry`.
 */
export class Ec2ThrottleError extends Ec2Error {
  override readonly name: string = "Ec2ThrottleError";
  /** The delay chosen for this throttle (1 s, 2.5 s, 4.75 s, ... 60 s); equals `throttleDelayMs`. */
  readonly retryAfterMs: number;
  readonly earliestRetry: Date;

  constructor(facts: Ec2ErrorFacts, now: Date) {
    super(facts);
    this.retryAfterMs = facts.throttleDelayMs;
    this.earliestRetry = new Date(now.getTime() + facts.throttleDelayMs);
  }
}

/**
 * An Ec2QuotaError is EC2 refusing a launch because an account quota is reached (§4.3
 * `isErrorQuota`, §4.1 AtQuota): launch nothing until an instance goes away, or for 1 min when
 * none are running.
 */
export class Ec2QuotaError extends Ec2Error {
  override readonly name: string = "Ec2QuotaError";
}

/** Which instance types a capacity error applies to (§4.1 atCapacityUntil keys). */
export type CapacityScope = "instanceType" | "quotaGroup" | "all";

/**
 * An Ec2CapacityError is EC2 lacking capacity for a launch (§4.3 capacityError): mark
 * `capacityKey` at capacity for 1 min (§4.1) and try another type.
 */
export class Ec2CapacityError extends Ec2Error {
  override readonly name: string = "Ec2CapacityError";
  readonly scope: CapacityScope;
  /** The §4.1 `atCapacityUntil` key this error sets (see `capacityKey`). */
  readonly capacityKey: string;

  constructor(facts: Ec2ErrorFacts, scope: CapacityScope, capacityKey: string) {
    super(facts);
    this.scope = scope;
    this.capacityKey = capacityKey;
  }
}
