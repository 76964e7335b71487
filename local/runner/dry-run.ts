/**
 * A dry run against a real Arvados cluster (`npm start -- --arvados`): the queue update runs
 * for real (Arvados reads only) into a local queue table (DynamoDB Local, also with --aws, which
 * only adds a read-only listing of the instances in EC2), then the type choice and the
 * scheduler's plan run in memory, and the decisions are printed. Nothing is locked, launched
 * or cancelled: no handler that would act (choose-instance-types, launch, cleanup) is invoked.
 */
import { randomUUID } from "node:crypto";
import { ArvadosClient } from "../../lib/arvados/client.js";
import { arvadosClientOptionsFromEnv } from "../../lib/arvados/env.js";
import { isFinalState } from "../../lib/model/container.js";
import { createEc2Client } from "../../lib/cloud/client.js";
import { chooseInstanceTypes } from "../../lib/instance-types/choose.js";
import { Ec2InstanceCloud } from "../../lib/cloud/ec2-instance-cloud.js";
import { decodeMounts } from "../../lib/arvados/mounts.js";
import { Queue } from "../../lib/queue/queue.js";
import type { QueueEntry } from "../../lib/model/entry.js";
import type { InstanceView } from "../../lib/model/instance.js";
import { initialMaxContainers } from "../../lib/scheduler/max-containers.js";
import { planQueue, type QueuePlan } from "../../lib/scheduler/plan-queue.js";
import { dispatchState } from "../../lib/store/dispatch-state.js";
import { QueueStore } from "../../lib/store/queue-store.js";
import type { DisplayOutput } from "./display.js";
import { prepareLocalConfig } from "./local-config.js";
import { startServices } from "./services.js";

/** Options of a dry run. */
export interface DryRunOptions {
  configPath?: string;
  stateDir: string;
  /** Also list this dispatcher's instances from EC2 (DescribeInstances only), as the AWS_* environment says. */
  aws: boolean;
  dynamodbPort?: number;
  out: DisplayOutput;
  env: NodeJS.ProcessEnv;
}

/** What the dispatcher would do with one container. */
export interface DryRunDecision {
  uuid: string;
  state: string;
  /** int64, exact (§5.6). */
  priority: bigint;
  types: string[];
  /** Upstream's error when no type fits: the container would be locked, given this runtime_status.error and cancelled. */
  unsatisfiable?: string;
  /** "lock + launch <type>", "launch <type>", "unlock", or the scheduling status it would get. */
  action: string;
}

function actionFor(uuid: string, plan: QueuePlan): string {
  const lock = plan.lock.find((d) => d.uuid === uuid);
  if (lock !== undefined) return `would lock + launch ${lock.instanceType.Name}`;
  const launch = plan.launch.find((d) => d.uuid === uuid);
  if (launch !== undefined) return `would launch ${launch.instanceType.Name}`;
  if (plan.unlock.includes(uuid)) return "would unlock";
  return plan.statuses[uuid] ?? "-";
}

/** Runs one dry pass and prints the decisions; returns them. Never prints the token. */
export async function dryRun(options: DryRunOptions): Promise<DryRunDecision[]> {
  const { config, path } = prepareLocalConfig({
    ...(options.configPath ? { userConfig: options.configPath } : {}),
    stateDir: options.stateDir,
    pollInterval: "10s",
  });
  const services = await startServices({
    clusterId: config.ClusterID || "zzzzz",
    // Always the local table, even with --aws: writing the deployed table would wake the
    // deployed functions through its stream, and they would act.
    aws: false,
    realArvados: true,
    withEc2: false,
    ...(options.dynamodbPort === undefined ? {} : { dynamodbPort: options.dynamodbPort }),
    ec2PendingMs: 0,
    ec2ShuttingDownMs: 0,
    env: options.env,
  });
  try {
    const api = new ArvadosClient(arvadosClientOptionsFromEnv(options.env));
    const store = new QueueStore(services.ddb, services.tableName);
    const queue = new Queue(api, store, { leaseOwner: randomUUID(), leaseMs: 60_000 });
    options.out.write(
      `Dry run against ${services.arvadosHost} with ${path}: nothing will be locked, launched or cancelled.\n`,
    );
    const report = await queue.update();
    await queue.releaseUpdateLease().catch(() => undefined);
    options.out.write(
      `Queue update: ${report.entries.length} entries, ${report.apiRequests} API requests (reads only).\n`,
    );

    const unsatisfiable = new Map<string, string>();
    const entries: QueueEntry[] = [];
    for (const entry of report.entries) {
      if (isFinalState(entry.container.state)) continue;
      // The same read choose-instance-types makes (mounts are not in the poll, §1.8).
      const decoded = decodeMounts((await api.getContainer(entry.container.uuid, ["mounts"])).mounts);
      if ("error" in decoded) {
        unsatisfiable.set(entry.container.uuid, decoded.error);
        continue;
      }
      const choice = chooseInstanceTypes(config, { ...entry.container, mounts: decoded.mounts });
      if (choice.ok)
        entries.push({ ...entry, instanceTypes: choice.types.map((it) => it.Name), typeDecision: choice.decision });
      else unsatisfiable.set(entry.container.uuid, choice.error.message);
    }

    let instances: InstanceView[] = [];
    if (options.aws) {
      const cloud = new Ec2InstanceCloud({
        ec2: createEc2Client(),
        config,
        instanceSetId: options.env.INSTANCE_SET_ID || (await queue.tokenUuid()),
        tokenParameterName: "",
        region: services.region,
        apiHost: services.arvadosHost,
      });
      instances = await cloud.list(); // DescribeInstances only
    }
    const capacity = (await dispatchState(services.ddb, services.tableName, initialMaxContainers(config)).read()).value;
    const plan = planQueue({
      entries,
      instances,
      capacity,
      config,
      now: Date.now(),
      maxContainers: capacity.maxContainers,
    });

    const decisions: DryRunDecision[] = report.entries
      .filter((e) => !isFinalState(e.container.state))
      .map((e) => {
        const uuid = e.container.uuid;
        const reason = unsatisfiable.get(uuid);
        return {
          uuid,
          state: e.container.state,
          priority: e.container.priority,
          types: entries.find((x) => x.container.uuid === uuid)?.instanceTypes ?? [],
          ...(reason === undefined ? {} : { unsatisfiable: reason }),
          action: reason === undefined ? actionFor(uuid, plan) : "would lock, set runtime_status.error, cancel",
        };
      })
      // Exactly: int64 priorities one apart are one double.
      .sort((a, b) => (a.priority > b.priority ? -1 : a.priority < b.priority ? 1 : a.uuid.localeCompare(b.uuid)));
    for (const d of decisions) {
      const types = d.unsatisfiable ?? d.types.slice(0, 3).join(",") + (d.types.length > 3 ? ",…" : "");
      options.out.write(
        `${d.uuid}  ${d.state.padEnd(8)} p=${String(d.priority).padEnd(18)} ${types.padEnd(40)}  ${d.action}\n`,
      );
    }
    options.out.write(
      `${plan.lock.length} would be locked, ${plan.launch.length} launched, ${plan.unlock.length} unlocked, ${unsatisfiable.size} cancelled as unsatisfiable.\n`,
    );
    return decisions;
  } finally {
    await services.stop();
  }
}
