/**
 * The launch benchmarks' rig: the Arvados simulator with `containers` added, the throttling EC2
 * simulator, a fresh queue table on DynamoDB Local, and the queue brought to launchable entries
 * the real way (update-queue inserts, choose-instance-types fills the types), with the
 * production Ec2InstanceCloud. `stop()` tears it all down.
 */
import { randomUUID } from "node:crypto";
import { ArvadosClient } from "../lib/arvados/client.js";
import { createEc2Client } from "../lib/cloud/client.js";
import { Ec2InstanceCloud } from "../lib/cloud/ec2-instance-cloud.js";
import type { ClusterConfig } from "../lib/config/types.js";
import { assignInstanceTypes } from "../lib/queue/assign-types.js";
import { Queue } from "../lib/queue/queue.js";
import { QueueStore } from "../lib/store/queue-store.js";
import { ArvadosSimulator } from "../local/arvados-sim/simulator.js";
import { Ec2Simulator } from "../local/ec2-sim/simulator.js";
import { freshQueueTable, localDynamoDbClient } from "./harness.js";

export interface LaunchRig {
  sim: ArvadosSimulator;
  ec2sim: Ec2Simulator;
  ddb: ReturnType<typeof localDynamoDbClient>;
  tableName: string;
  store: QueueStore;
  queue: Queue;
  cloud: Ec2InstanceCloud;
  stop(): Promise<void>;
}

export async function startLaunchRig(
  endpoint: string,
  config: ClusterConfig,
  tablePrefix: string,
  addContainers: (sim: ArvadosSimulator) => void,
): Promise<LaunchRig> {
  const sim = new ArvadosSimulator();
  const api = new ArvadosClient({ apiHost: await sim.start(0), token: sim.rootToken });
  const ec2sim = new Ec2Simulator({ throttle: true });
  const ec2 = createEc2Client({
    endpoint: await ec2sim.start(0),
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const ddb = localDynamoDbClient(endpoint);
  const table = await freshQueueTable(ddb, tablePrefix);
  const stop = async () => {
    await table.drop().catch(() => undefined);
    ddb.destroy();
    ec2.destroy();
    await ec2sim.stop();
    await sim.stop();
  };
  try {
    addContainers(sim);
    const store = new QueueStore(ddb, table.tableName);
    const queue = new Queue(api, store, { leaseOwner: randomUUID(), leaseMs: 60_000 });
    const update = await queue.update();
    for (const entry of update.entries) await assignInstanceTypes(entry.container.uuid, { api, store, queue, config });
    const cloud = new Ec2InstanceCloud({
      ec2,
      config,
      instanceSetId: sim.rootTokenUuid,
      tokenParameterName: "/arvados/bench/dispatch-token",
      region: "us-east-1",
      apiHost: "127.0.0.1:1",
    });
    return { sim, ec2sim, ddb, tableName: table.tableName, store, queue, cloud, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
