/**
 * The stream filters DESIGN.md gives each consumer, stated once: the packaged template and the
 * local runner's reading of serverless.yml must both produce exactly these.
 */

/** choose-instance-types: new container entries of this cluster (not the meta items). */
export function chooseInstanceTypesFilter(clusterId: string): unknown {
  return { eventName: ["INSERT"], dynamodb: { Keys: { uuid: { S: [{ prefix: `${clusterId}-dz642-` }] } } } };
}

/**
 * launch: entries that can launch: Queued or Locked, priority not 0, types chosen, no instance
 * yet; not a write of the scheduling status alone (launch's own, marked `statusOnly`).
 */
export const launchFilter: unknown = {
  eventName: ["INSERT", "MODIFY"],
  dynamodb: {
    NewImage: {
      container: { M: { state: { S: ["Queued", "Locked"] }, priority: { N: [{ "anything-but": ["0"] }] } } },
      // Entries store their types as names (a list of strings).
      instanceTypes: { L: { S: [{ exists: true }] } },
      launch: { M: { instanceId: { S: [{ exists: false }] } } },
      statusOnly: { BOOL: [{ exists: false }] },
    },
  },
};

/**
 * launch, second pattern: a relayed wake-up (update-queue stamps `#launch-wake` for each of
 * launch's wake-ups that came on the tick queue).
 */
export const launchWakeFilter: unknown = {
  eventName: ["INSERT", "MODIFY"],
  dynamodb: { Keys: { uuid: { S: ["#launch-wake"] } } },
};
