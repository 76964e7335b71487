/**
 * queue-update: Queue.update against the Arvados simulator and DynamoDB Local with a large
 * queue (N containers locked by our token plus N Queued), reporting what a first update, a
 * steady update and a churn update cost: wall time, Arvados requests, items written and write
 * capacity. A steady update must write no container item.
 */
import { type ConsumedCapacity, meterConsumedCapacity } from "../local/consumed-capacity.js";
import { randomUUID } from "node:crypto";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ArvadosClient } from "../lib/arvados/client.js";
import { containerPriority, requestPriorityFactor } from "../local/arvados-sim/priority.js";
import { ArvadosSimulator } from "../local/arvados-sim/simulator.js";
import { Queue, type UpdateReport } from "../lib/queue/queue.js";
import { pollQueue } from "../lib/queue/poll.js";
import type { QueueEntry } from "../lib/model/entry.js";
import { runBounded } from "../lib/model/run-bounded.js";
import { QueueIndexStore } from "../lib/store/queue-index.js";
import { QueueStore } from "../lib/store/queue-store.js";
import {
  type Benchmark,
  fixed,
  freshQueueTable,
  localDynamoDbClient,
  note,
  printTable,
  type Services,
  startServices,
  timed,
  WriteMeter,
} from "./harness.js";

/** Containers of each kind (Locked by us, Queued); BENCH_QUEUE_CONTAINERS overrides for a quick run. */
const perKind = Number(process.env.BENCH_QUEUE_CONTAINERS ?? 10_000);
/** Write concurrencies compared on a first update besides the Queue's default. */
const otherConcurrencies = [4, 64];
/** The Queue's default write concurrency (QueueOptions.writeConcurrency), for the labels. */
const defaultConcurrencyLabel = "default (16)";

interface Measured {
  label: string;
  seconds: number;
  /** CPU of this Node process (client, Queue and the in-process Arvados simulator). */
  nodeCpuSeconds: number;
  arvadosRequests: number;
  report: UpdateReport;
  containerWrites: number;
  containerWcu: number;
  metaWrites: number;
  metaWcu: number;
  conditionalFailures: number;
  ddbCalls: number;
  rcu: number;
}

class Rig {
  private constructor(
    readonly sim: ArvadosSimulator,
    readonly api: ArvadosClient,
    readonly ddb: DynamoDBClient,
    readonly meter: WriteMeter,
    readonly usage: ConsumedCapacity,
  ) {}

  static async start(endpoint: string): Promise<Rig> {
    const sim = new ArvadosSimulator();
    const url = await sim.start(0);
    const api = new ArvadosClient({ apiHost: url, token: sim.rootToken });
    const ddb = localDynamoDbClient(endpoint);
    return new Rig(sim, api, ddb, new WriteMeter(ddb), meterConsumedCapacity(ddb));
  }

  /** A Queue on a fresh table, as a cold update-queue invocation would build it (with the queue index, as lib/runtime does). */
  async queue(writeConcurrency?: number): Promise<{ queue: Queue; store: QueueStore; drop(): Promise<void> }> {
    const table = await freshQueueTable(this.ddb, "bench-queue");
    const store = new QueueStore(this.ddb, table.tableName);
    const queue = new Queue(this.api, store, {
      leaseOwner: randomUUID(),
      leaseMs: 10 * 60_000,
      index: new QueueIndexStore(this.ddb, table.tableName),
      ...(writeConcurrency === undefined ? {} : { writeConcurrency }),
    });
    return { queue, store, drop: table.drop };
  }

  async measure(label: string, queue: Queue, _store: QueueStore): Promise<Measured> {
    this.sim.clearRequests();
    this.meter.take();
    const rcuBefore = this.usage.readCapacityUnits;
    const cpuBefore = process.cpuUsage();
    const { seconds, result: report } = await timed(() => queue.update());
    const cpu = process.cpuUsage(cpuBefore);
    const writes = this.meter.take();
    return {
      label,
      seconds,
      nodeCpuSeconds: (cpu.user + cpu.system) / 1e6,
      arvadosRequests: this.sim.requests().length,
      report,
      containerWrites: writes.containerWrites,
      containerWcu: writes.containerWcu,
      metaWrites: writes.metaWrites,
      metaWcu: writes.metaWcu,
      conditionalFailures: writes.conditionalFailures,
      ddbCalls: Object.values(writes.calls).reduce((a, b) => a + b, 0),
      rcu: this.usage.readCapacityUnits - rcuBefore,
    };
  }

  async stop(): Promise<void> {
    await this.sim.stop();
    this.ddb.destroy();
  }
}

function row(m: Measured): (string | number)[] {
  const { inserted, replaced, removed } = m.report;
  return [
    m.label,
    fixed(m.seconds),
    fixed(m.nodeCpuSeconds),
    m.arvadosRequests,
    m.report.cached,
    `${inserted}/${replaced}/${removed}`,
    m.containerWrites,
    fixed(m.containerWcu, 0),
    `${m.metaWrites} (${fixed(m.metaWcu, 0)} WCU)`,
    m.conditionalFailures,
    m.ddbCalls,
    fixed(m.rcu, 0),
  ];
}

const header = [
  "update",
  "wall s",
  "node CPU s",
  "Arvados requests",
  "entries",
  "ins/repl/rm",
  "container items written",
  "container WCU",
  "#queue meta writes",
  "cond. fails",
  "DynamoDB calls",
  "RCU",
];

/** When the fixture's container requests were made (epoch ms); they are 1 ms apart from there. */
const fixtureEpochMs = Date.UTC(2026, 0, 1);

/**
 * Adds `count` containers Locked by the root token and `count` Queued, with the int64
 * priorities the API server gives them (§5.6: request priority × 2^50 − request created_at
 * ms). Queued requests have priorities 1..1000 rising with i and are made 1 ms apart, newest
 * first, so every Queued priority is distinct and Queued container i outranks i − 1.
 */
function addFixture(
  sim: ArvadosSimulator,
  count: number,
): { locked: string[]; queued: { uuid: string; priority: bigint }[] } {
  // Distinct Queued priorities keep the "avail" window (the top page by priority) stable between polls.
  const lockedRequest = (i: number) => ({ priority: 1 + (i % 1000), createdAtMs: fixtureEpochMs + i });
  const queuedRequest = (i: number) => ({
    priority: 1 + Math.floor((i * 1000) / count),
    createdAtMs: fixtureEpochMs + count - i,
  });
  const locked = sim.addContainers(
    count,
    () => ({ state: "Locked" }),
    (i) => ({ request: lockedRequest(i) }),
  );
  const queued = sim
    .addContainers(
      count,
      () => ({ state: "Queued" }),
      (i) => ({ request: queuedRequest(i) }),
    )
    .map((uuid, i) => {
      const { priority, createdAtMs } = queuedRequest(i);
      return { uuid, priority: containerPriority(priority, createdAtMs) };
    });
  return { locked, queued };
}

async function run(services: Services): Promise<void> {
  const endpoint = services.dynamoDbEndpoint();
  const rig = await Rig.start(endpoint);
  const rows: Measured[] = [];
  let breakdown: (string | number)[][] = [];
  let changes = 0;
  try {
    await warmUp(rig);
    const { locked, queued } = addFixture(rig.sim, perKind);
    const main = await rig.queue();
    rows.push(await rig.measure("first (empty table)", main.queue, main.store));
    for (let i = 1; i <= 3; i++) rows.push(await rig.measure(`steady #${i}`, main.queue, main.store));
    breakdown = await steadyBreakdown(rig, main.queue, main.store);

    // Churn: 1% of the sim's containers change in ways the cache must follow: half of it
    // priorities of Locked containers (their requests raised to 900), a quarter Locked →
    // Running, a quarter priority raises of Queued containers inside the cached "avail" window
    // (the top 1,000 by priority; each request priority raised by 1, i.e. + 2^50).
    const churn = Math.round((2 * perKind) / 100);
    const lockedPriority = locked.slice(0, Math.floor(churn / 2));
    const lockedRunning = locked.slice(lockedPriority.length, lockedPriority.length + Math.floor(churn / 4));
    const cachedQueued = queued.slice(-1000);
    const queuedRaised = cachedQueued.slice(0, churn - lockedPriority.length - lockedRunning.length);
    for (const uuid of lockedPriority) rig.sim.setPriority(uuid, containerPriority(900, fixtureEpochMs));
    for (const uuid of lockedRunning) rig.sim.startContainer(uuid);
    for (const q of queuedRaised) rig.sim.setPriority(q.uuid, q.priority + requestPriorityFactor);
    changes = lockedPriority.length + lockedRunning.length + queuedRaised.length;
    rows.push(await rig.measure(`churn (${changes} changed)`, main.queue, main.store));
    rows.push(await rig.measure("steady after churn", main.queue, main.store));
    await main.drop();
  } finally {
    await rig.stop();
  }

  printTable(
    `queue-update: ${perKind} Locked by us + ${perKind} Queued in the Arvados simulator, Queue write concurrency ${defaultConcurrencyLabel}`,
    header,
    rows.map(row),
  );
  const steady = rows.filter((m) => m.label.startsWith("steady"));
  const steadySeconds = steady.map((m) => m.seconds);
  const churned = rows.find((m) => m.label.startsWith("churn"));
  note(
    [
      `steady updates wrote zero container items: ${steady.every((m) => m.containerWrites === 0) ? "yes" : "NO"}` +
        ` (the ${steady[0]?.metaWrites ?? 0} meta writes per update are the #queue item's lease and threshold)`,
      `steady update wall time: min ${fixed(Math.min(...steadySeconds))} s, max ${fixed(Math.max(...steadySeconds))} s (target ≤ 2 s)`,
      `churn: ${changes} containers changed, ${churned?.containerWrites ?? 0} container items written` +
        ` (${churned?.containerWrites === changes ? "equal" : "NOT equal"})`,
      "Arvados requests: as counted by the simulator, including api_client_authorizations/current on a Queue's first update.",
      "node CPU s: this process (SDK clients, Queue, and the in-process Arvados simulator); DynamoDB Local is a separate JVM.",
      "entries: cached containers after the update; ins/repl/rm: the update's write plan; RCU: a first update scans the table (and writes the queue index); later ones read #queue and the queue index, not the entries.",
    ].join("\n"),
  );
  printTable(
    "queue-update: where a steady update's time goes (same table and simulator, each part alone, best of 3)",
    ["part", "wall s", "requests / pages", "RCU"],
    breakdown,
  );
  note(
    "Queue.update runs these one after the other: lease, then the queue index (a first update: the scan) with the token uuid, then poll, then writes, then threshold. #queue meta writes include the index shards (#index/…).",
  );
  // BENCH_QUEUE_SWEEP=0 skips the write-concurrency sweep (several minutes of fresh DynamoDB Locals).
  if (process.env.BENCH_QUEUE_SWEEP !== "0") await concurrencySweep();
}

/** Times the parts of a steady update separately: the table scan (by segment count) and the Arvados poll. */
async function steadyBreakdown(rig: Rig, queue: Queue, store: QueueStore): Promise<(string | number)[][]> {
  const tokenUuid = await queue.tokenUuid();
  const { entries } = await store.scan();
  const cachedStates = new Map([...entries].map(([uuid, entry]) => [uuid, entry.container.state] as const));
  const best = async (part: () => Promise<number>) => {
    let bestSeconds = Number.POSITIVE_INFINITY;
    let units = 0;
    let rcu = 0;
    for (let i = 0; i < 3; i++) {
      rig.meter.take();
      const rcuBefore = rig.usage.readCapacityUnits;
      const { seconds, result } = await timed(part);
      if (seconds < bestSeconds) {
        bestSeconds = seconds;
        units = result;
        rcu = rig.usage.readCapacityUnits - rcuBefore;
      }
    }
    return { seconds: bestSeconds, units, rcu };
  };
  const rows: (string | number)[][] = [];
  for (const segments of [1, 4, 8]) {
    const m = await best(async () => {
      await store.scan(segments);
      return rig.meter.take().calls.ScanCommand ?? 0;
    });
    rows.push([
      `store.scan(${segments})${segments === 4 ? " (what a first update, or one rebuilding the index, uses)" : ""}`,
      fixed(m.seconds),
      `${m.units} Scan pages`,
      fixed(m.rcu, 0),
    ]);
  }
  const poll = await best(async () => (await pollQueue(rig.api, tokenUuid, cachedStates)).requests);
  rows.push(["pollQueue (mine + avail + uuid batches)", fixed(poll.seconds), `${poll.units} Arvados requests`, "-"]);
  return rows;
}

/** Warms DynamoDB Local's JVM with a few hundred writes to a throwaway table. */
async function warmUp(rig: Rig): Promise<void> {
  const table = await freshQueueTable(rig.ddb, "bench-warmup");
  const store = new QueueStore(rig.ddb, table.tableName);
  const tasks = Array.from(
    { length: 500 },
    (_, i) => () =>
      store.insertNew({
        container: {
          uuid: `zzzzz-dz642-warmup${String(i).padStart(9, "0")}`,
          state: "Queued",
          priority: containerPriority(500, Date.UTC(2024, 0, 1)),
          runtime_constraints: {
            ram: 1,
            vcpus: 1,
            keep_cache_ram: 0,
            keep_cache_disk: 0,
            gpu: { stack: "", driver_version: "", hardware_target: [], device_count: 0, vram: 0 },
          },
          container_image: "",
          scheduling_parameters: { partitions: [], preemptible: false, max_run_time: 0, supervisor: false },
          created_at: "2024-01-01T00:00:00Z",
          locked_by_uuid: null,
        },
        firstSeenAt: "2024-01-01T00:00:00Z",
        version: 1,
      }),
  );
  await runBounded(tasks, 16);
  await table.drop();
  rig.meter.take();
}

/**
 * The first update is the only one that writes in bulk: compare write concurrencies on a
 * smaller fixture (DynamoDB Local takes most of a minute for the full one), next to the same
 * inserts sent straight through QueueStore (no poll, no scan) as DynamoDB Local's ceiling.
 */
async function concurrencySweep(): Promise<void> {
  const sweepPerKind = Math.min(perKind, 1000);
  const sweep: { label: string; seconds: number; writes: number; wcu: number }[] = [];
  let entries: QueueEntry[] = [];
  // DynamoDB Local slows down as its in-memory database fills (stream records of dropped tables
  // included), so each point gets a DynamoDB Local of its own, warmed up the same way.
  for (const c of [undefined, ...otherConcurrencies, "insertNew"] as const) {
    const dynamo = await startServices(true);
    const rig = await Rig.start(dynamo.dynamoDbEndpoint());
    try {
      await warmUp(rig);
      addFixture(rig.sim, sweepPerKind);
      const q = await rig.queue(c === "insertNew" ? undefined : c);
      if (c === "insertNew") {
        rig.meter.take();
        const { seconds } = await timed(() =>
          runBounded(
            entries.map((entry) => () => q.store.insertNew(entry)),
            16,
          ),
        );
        const writes = rig.meter.take();
        sweep.push({
          label: "QueueStore.insertNew only, 16 in flight",
          seconds,
          writes: writes.containerWrites,
          wcu: writes.containerWcu,
        });
      } else {
        const m = await rig.measure("", q.queue, q.store);
        entries = m.report.entries;
        sweep.push({
          label: `Queue.update, writeConcurrency ${c === undefined ? defaultConcurrencyLabel : c}`,
          seconds: m.seconds,
          writes: m.containerWrites,
          wcu: m.containerWcu,
        });
      }
    } finally {
      await rig.stop();
      await dynamo.stop();
    }
  }
  printTable(
    `queue-update: write concurrency on a first update (${sweepPerKind} Locked + ${sweepPerKind} Queued, a fresh DynamoDB Local each)`,
    ["first update", "wall s", "container items written", "items/s", "container WCU"],
    sweep.map((m) => [m.label, fixed(m.seconds), m.writes, fixed(m.writes / m.seconds, 0), fixed(m.wcu, 0)]),
  );
}

export const queueUpdate: Benchmark = {
  name: "queue-update",
  title: "Queue.update: first, steady and churn updates of a large queue",
  needsDynamoDb: true,
  run,
};
