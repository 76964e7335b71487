/**
 * The scheduler: pure decisions about which containers to lock, launch and unlock (§3.3) and
 * how to reconcile the queue with our instances (§3.4, §3.5). Effects live with the callers.
 */
export * from "./capacity.js";
export * from "./instances.js";
export * from "./max-containers.js";
export * from "./plan-queue.js";
export * from "./plan-reconcile.js";
export * from "./status.js";
