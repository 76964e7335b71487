import { randomUUID } from "node:crypto";
import { ArvadosClient } from "../../lib/arvados/client.js";
import { ArvadosSimulator } from "../../lib/local/arvados-sim/simulator.js";
import { Queue } from "../../lib/queue/queue.js";
import { QueueStore } from "../../lib/store/queue-store.js";
import { freshQueueTable, localDynamoDb } from "./dynamodb.js";

/** A queue wired to a fresh table in DynamoDB Local and a fresh Arvados simulator over HTTP. */
export interface QueueHarness {
  sim: ArvadosSimulator;
  api: ArvadosClient;
  store: QueueStore;
  queue: Queue;
  tableName: string;
  /** A second Queue on the same table and API (another invocation). */
  otherQueue(): Queue;
  close(): Promise<void>;
}

export async function queueHarness(options: { clock?: () => Date } = {}): Promise<QueueHarness> {
  const ddb = localDynamoDb();
  const table = await freshQueueTable(ddb);
  const sim = new ArvadosSimulator();
  const url = await sim.start(0);
  const api = new ArvadosClient({ apiHost: url, token: sim.rootToken, retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 20 } });
  const store = new QueueStore(ddb, table.tableName);
  const makeQueue = () =>
    new Queue(api, store, { leaseOwner: randomUUID(), leaseMs: 60_000, ...(options.clock ? { clock: options.clock } : {}) });
  return {
    sim,
    api,
    store,
    queue: makeQueue(),
    tableName: table.tableName,
    otherQueue: makeQueue,
    close: async () => {
      await sim.stop();
      await table.drop();
    },
  };
}
