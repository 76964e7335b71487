import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Container } from "../../lib/model/container.js";
import { lambdaContext } from "../../local/lambda-context.js";
import { StreamPump } from "../../local/stream-pump.js";
import { type QueueHarness, queueHarness } from "../support/dispatch.js";
import { localDynamoDb, localDynamoDbStreams } from "../support/dynamodb.js";
import { testClusterConfigYaml } from "../support/cluster-config.js";

/*
 * The real choose-instance-types handler, fed by the table's real stream (DynamoDB Local),
 * talking to the Arvados simulator over HTTP.
 */
type Handler = (event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>;

let h: QueueHarness;
let handler: Handler;
let pump: StreamPump;
const delivered: DynamoDBRecord[][] = [];
const responses: DynamoDBBatchResponse[] = [];

beforeAll(async () => {
  h = await queueHarness();
  const dir = mkdtempSync(join(tmpdir(), "choose-"));
  writeFileSync(join(dir, "config.yml"), testClusterConfigYaml());
  Object.assign(process.env, {
    QUEUE_TABLE_NAME: h.tableName,
    DISPATCH_CONFIG: join(dir, "config.yml"),
    ARVADOS_API_HOST: h.sim.baseUrl,
    ARVADOS_API_TOKEN: h.sim.rootToken,
    AWS_ENDPOINT_URL_DYNAMODB: inject("dynamodbEndpoint"),
    LOG_LEVEL: "ERROR",
    POWERTOOLS_METRICS_DISABLED: "true",
  });
  handler = (await import("../../functions/choose-instance-types/handler.js")).handler as unknown as Handler;
});

afterAll(async () => {
  await pump?.stop();
  await h.close();
});

/** Starts the pump on the table's stream, delivering INSERTs of container entries to the handler. */
async function startPump(): Promise<void> {
  const { Table } = await localDynamoDb().send(new DescribeTableCommand({ TableName: h.tableName }));
  pump = new StreamPump(
    localDynamoDbStreams(),
    Table?.LatestStreamArn ?? "",
    [
      {
        name: "choose-instance-types",
        filterPatterns: [{ eventName: ["INSERT"], dynamodb: { Keys: { uuid: { S: [{ prefix: "zzzzz-dz642-" }] } } } }],
        batchSize: 10,
        maximumBatchingWindowMs: 0,
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: 2,
        invoke: async (event) => {
          delivered.push(event.Records);
          const response = await handler(event, lambdaContext("choose-instance-types", 30_000));
          responses.push(response);
          return response;
        },
      },
    ],
    50,
  );
  pump.start();
}

function container(fields: Record<string, unknown>): Container {
  return h.sim.addContainer({
    state: "Queued",
    priority: 1,
    runtime_constraints: { ram: 2 ** 30, vcpus: 1 },
    ...fields,
  });
}

describe("choose-instance-types", () => {
  let fits: Container;
  let huge: Container;
  let badMounts: Container;
  let badGpu: Container;
  let running: Container;

  beforeAll(async () => {
    fits = container({
      runtime_constraints: { ram: 7.5 * 2 ** 30, vcpus: 2 },
      mounts: { "/tmp": { kind: "tmp", capacity: 10 * 2 ** 30 } },
    });
    huge = container({ runtime_constraints: { ram: 2 ** 41, vcpus: 1 } });
    badMounts = container({ mounts: { "/tmp": { kind: "tmp", capacity: "lots" } } });
    badGpu = container({ runtime_constraints: { ram: 2 ** 30, vcpus: 1, gpu: { stack: "opencl", device_count: 1 } } });
    running = h.sim.addContainer({ state: "Running", priority: 1, runtime_constraints: { ram: 2 ** 41, vcpus: 1 } });
    await h.queue.update();
    await startPump();
    await pump.drain();
  }, 60_000);

  it("stores the ranked types, resources and the decision record of a container that fits", async () => {
    const entry = await h.store.get(fits.uuid);
    expect(entry?.instanceTypes).toEqual(["medium"]);
    expect(entry?.typeDecision?.chosen).toEqual(["medium"]);
    expect(entry?.typeDecision?.rejected.map((r) => r.name).sort()).toEqual(["gpu", "large", "small", "small.spot"]);
    expect(entry?.instanceResources).toMatchObject({ VCPUs: 2, Scratch: 10 * 2 ** 30 });
    expect(h.sim.getContainer(fits.uuid)?.state).toBe("Queued");
  });

  it("locks, sets upstream's runtime_status.error, cancels and forgets a container no type fits", async () => {
    expect(h.sim.getContainer(huge.uuid)).toMatchObject({
      state: "Cancelled",
      lock_count: 1,
      runtime_status: { error: "constraints not satisfiable by any configured instance type" },
    });
    expect(await h.store.get(huge.uuid)).toBeUndefined();
  });

  it("cancels a container whose mounts cannot be decoded, with Go's decoding message", async () => {
    expect(h.sim.getContainer(badMounts.uuid)?.runtime_status).toEqual({
      error:
        "error getting mounts from container record: json: cannot unmarshal string into Go struct field Mount.mounts.capacity of type int64",
    });
    expect(h.sim.getContainer(badMounts.uuid)?.state).toBe("Cancelled");
  });

  it("cancels a container asking for an unknown GPU stack with upstream's message", async () => {
    expect(h.sim.getContainer(badGpu.uuid)?.runtime_status).toEqual({
      error: `Invalid GPU stack "opencl", expected to be blank or one of 'cuda' or 'rocm'`,
    });
  });

  it("keeps a Running container no type fits, with no types, and does not cancel it", async () => {
    expect(h.sim.getContainer(running.uuid)?.state).toBe("Running");
    expect((await h.store.get(running.uuid))?.instanceTypes).toEqual([]);
  });

  it("does no harm when a record is delivered again", async () => {
    const before = await h.store.get(fits.uuid);
    const requestsBefore = h.sim.requests().length;
    const insert = delivered.flat().find((r) => r.dynamodb?.Keys?.uuid?.S === fits.uuid);
    expect(insert).toBeDefined();
    const response = await handler(
      { Records: [insert as DynamoDBRecord] },
      lambdaContext("choose-instance-types", 30_000),
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(await h.store.get(fits.uuid)).toEqual(before);
    expect(h.sim.requests().length).toBe(requestsBefore);
  });

  it("reports only the failed record of a batch, which is retried and succeeds", async () => {
    const flaky = container({});
    const steady = container({});
    h.sim.injectFault({
      route: `GET /arvados/v1/containers/${flaky.uuid}`,
      count: 1,
      effect: { kind: "status", status: 500 },
    });
    h.sim.injectFault({
      route: `GET /arvados/v1/containers/${flaky.uuid}`,
      count: 1,
      effect: { kind: "status", status: 500 },
    });
    const seen = responses.length;
    const discardedBefore = pump.stats.recordsDiscarded;
    await h.queue.update();
    await pump.drain();
    const failures = responses.slice(seen).flatMap((r) => r.batchItemFailures);
    expect(failures.length).toBeGreaterThanOrEqual(1);
    expect((await h.store.get(flaky.uuid))?.instanceTypes?.[0]).toBe("small");
    expect((await h.store.get(steady.uuid))?.instanceTypes?.[0]).toBe("small");
    expect(pump.stats.recordsDiscarded).toBe(discardedBefore);
  });
});
