/** The EC2 Query-API simulator used by the local runner and the tests. */
export type { FaultSpec, RegisteredFault, TokenBucketSettings } from "./faults.js";
export { type InstanceStateName, instanceStateCodes, type SimInstance } from "./model.js";
export type { LoggedRequest } from "./request-log.js";
export type { Ec2SimulatorOptions, SimStats } from "./sim-state.js";
export { Ec2Simulator } from "./simulator.js";
export { type ImdsLookup, ImdsServer } from "./imds.js";
