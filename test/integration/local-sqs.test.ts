import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { afterEach, describe, expect, it } from "vitest";
import type { FunctionSpec } from "../../local/runner/serverless-mappings.js";
import { LocalSqs, SqsMappings } from "../../local/runner/sqs-local.js";

const queues = [{ logicalId: "TickQueue", visibilityTimeoutMs: 300, retentionMs: 60_000 }];
let sqs: LocalSqs | undefined;
let mappings: SqsMappings | undefined;
afterEach(async () => {
  mappings?.stop();
  await sqs?.stop();
  sqs = undefined;
  mappings = undefined;
});

const spec = (reportBatchItemFailures: boolean): FunctionSpec => ({
  name: "update-queue",
  timeoutMs: 60_000,
  memoryMb: 512,
  schedules: [],
  streams: [],
  eventBridgePatterns: [],
  url: false,
  sqs: [
    { queue: "TickQueue", batchSize: 1, maximumBatchingWindowMs: 0, maximumConcurrency: 2, reportBatchItemFailures },
  ],
  queueUrls: {},
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function started(
  chaos?: ConstructorParameters<typeof LocalSqs>[1],
): Promise<{ sqs: LocalSqs; client: SQSClient }> {
  sqs = new LocalSqs(queues, chaos);
  const endpoint = await sqs.start();
  return {
    sqs,
    client: new SQSClient({
      endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    }),
  };
}

describe("the local SQS speaks SQS's JSON protocol to the real client, and plays the event source mapping as Lambda does", () => {
  it("delivers a message no sooner than its DelaySeconds, as an aws:sqs record, and deletes it once handled", async () => {
    const { sqs: local, client } = await started();
    const delivered: { at: number; body: string; source: string }[] = [];
    mappings = new SqsMappings(
      local,
      [spec(true)],
      new Map([
        [
          "update-queue",
          {
            name: "update-queue",
            invoke: async (e: unknown) => {
              const r = (e as { Records: { body: string; eventSource: string }[] }).Records[0];
              delivered.push({ at: Date.now(), body: r?.body ?? "", source: r?.eventSource ?? "" });
              return { batchItemFailures: [] };
            },
          },
        ],
      ]),
      20,
    );
    mappings.start();
    const sentAt = Date.now();
    const out = await client.send(
      new SendMessageCommand({ QueueUrl: local.url("TickQueue"), MessageBody: "hello", DelaySeconds: 1 }),
    );
    expect(out.MessageId).toBeDefined();
    await sleep(1_300);
    expect(delivered.map((d) => [d.body, d.source])).toEqual([["hello", "aws:sqs"]]);
    expect((delivered[0]?.at ?? 0) - sentAt).toBeGreaterThanOrEqual(1_000);
    expect(local.stats.get("TickQueue")).toMatchObject({ sent: 1, delivered: 1, deleted: 1 });
  });

  it("delivers a reported item failure again after the queue's visibility timeout", async () => {
    const { sqs: local } = await started();
    let calls = 0;
    mappings = new SqsMappings(
      local,
      [spec(true)],
      new Map([
        [
          "update-queue",
          {
            name: "update-queue",
            invoke: async (e: unknown) => {
              calls++;
              const id = (e as { Records: { messageId: string }[] }).Records[0]?.messageId ?? "";
              return { batchItemFailures: calls === 1 ? [{ itemIdentifier: id }] : [] };
            },
          },
        ],
      ]),
      20,
    );
    mappings.start();
    local.send("TickQueue", "again", 0);
    await sleep(150);
    expect(calls).toBe(1);
    await sleep(400);
    expect(calls).toBe(2);
    expect(local.stats.get("TickQueue")).toMatchObject({ failed: 1, deleted: 1 });
  });

  it("refuses a queue it does not have and a delay SQS would refuse", async () => {
    const { sqs: local, client } = await started();
    await expect(
      client.send(new SendMessageCommand({ QueueUrl: `${local.url("TickQueue")}x`, MessageBody: "x" })),
    ).rejects.toThrow();
    await expect(
      client.send(new SendMessageCommand({ QueueUrl: local.url("TickQueue"), MessageBody: "x", DelaySeconds: 901 })),
    ).rejects.toThrow();
  });

  it("breaks at-least-once delivery on purpose for the soak: lost, duplicated, late", async () => {
    const lost = await started({ loseRate: 1, duplicateRate: 0, lateRate: 0, maxLateMs: 0 });
    lost.sqs.send("TickQueue", "gone", 0);
    expect(lost.sqs.receive("TickQueue", 10)).toEqual([]);
    await lost.sqs.stop();
    const twice = await started({ loseRate: 0, duplicateRate: 1, lateRate: 0, maxLateMs: 0, random: () => 0.5 });
    twice.sqs.send("TickQueue", "twice", 0);
    await sleep(600);
    expect(twice.sqs.receive("TickQueue", 10).map((m) => m.body)).toEqual(["twice", "twice"]);
  });
});
