/**
 * SQS, locally: the queues of serverless.yml's resources, a loopback endpoint speaking SQS's JSON
 * protocol (what @aws-sdk/client-sqs sends: POST, `X-Amz-Target: AmazonSQS.SendMessage`), and
 * the SQS event source mappings of serverless.yml played as Lambda's poller plays them: a
 * message becomes visible after its DelaySeconds, is delivered in batches of the mapping's size
 * to at most its maximum concurrency, is deleted when the invocation succeeds (or its id is not
 * among the reported batch item failures), and comes back after the queue's visibility timeout
 * otherwise; it expires after the queue's retention period. SQS is at-least-once: the chaos
 * settings lose, duplicate and delay messages, as the fault soak needs.
 */
import { createHash, randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import type { FunctionSpec, QueueSpec } from "./serverless-mappings.js";

/** Faults of the at-least-once delivery, read live (probabilities per message sent). */
export interface SqsChaos {
  /** The message is never delivered. */
  loseRate: number;
  /** The message is delivered twice. */
  duplicateRate: number;
  /** The message is delivered late by up to `maxLateMs`. */
  lateRate: number;
  maxLateMs: number;
  random?: () => number;
}

/** Counters per queue, for the display, the summary and the cost bench. */
export interface SqsQueueStats {
  sent: number;
  delivered: number;
  deleted: number;
  /** Deliveries that failed (a thrown invocation or a reported item failure): visible again after the visibility timeout. */
  failed: number;
  expired: number;
  lost: number;
  duplicated: number;
  late: number;
  /** ReceiveMessage calls Lambda's poller would have made that returned messages (one per batch). */
  receives: number;
  /** Messages sent, by the `kind` field of a JSON body ("update-tick", "launch-wake"; "" for others): one queue carries both. */
  sentByKind: Record<string, number>;
}

interface Message {
  id: string;
  body: string;
  visibleAt: number;
  sentAt: number;
  receiveCount: number;
}

const region = "us-east-1";
const account = "000000000000";

/** The local SQS service: queues, their endpoint, and delivery to functions. */
export class LocalSqs {
  readonly stats = new Map<string, SqsQueueStats>();
  private readonly messages = new Map<string, Message[]>();
  private readonly specs = new Map<string, QueueSpec>();
  private server: Server | undefined;
  private endpoint = "";

  constructor(
    queues: readonly QueueSpec[],
    /** Read live: change its rates to start or stop the faults. */
    readonly chaos: SqsChaos = { loseRate: 0, duplicateRate: 0, lateRate: 0, maxLateMs: 0 },
  ) {
    for (const q of queues) {
      this.specs.set(q.logicalId, q);
      this.messages.set(q.logicalId, []);
      this.stats.set(q.logicalId, {
        sent: 0,
        sentByKind: {},
        delivered: 0,
        deleted: 0,
        failed: 0,
        expired: 0,
        lost: 0,
        duplicated: 0,
        late: 0,
        receives: 0,
      });
    }
  }

  /** The endpoint (AWS_ENDPOINT_URL_SQS); empty until started. */
  get endpointUrl(): string {
    return this.endpoint;
  }

  /** The queue's URL, as `!Ref <Queue>` gives it in AWS. */
  url(logicalId: string): string {
    return `${this.endpoint}/${account}/${logicalId}`;
  }

  /** The queue's ARN (the event source of its records). */
  arn(logicalId: string): string {
    return `arn:aws:sqs:${region}:${account}:${logicalId}`;
  }

  /** Listens on 127.0.0.1 (any free port); resolves to the endpoint for AWS_ENDPOINT_URL_SQS. */
  async start(): Promise<string> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const target = String(req.headers["x-amz-target"] ?? "");
        const reply = (status: number, body: unknown) => {
          res.writeHead(status, { "content-type": "application/x-amz-json-1.0", "x-amzn-requestid": randomUUID() });
          res.end(JSON.stringify(body));
        };
        let input: { QueueUrl?: string; MessageBody?: string; DelaySeconds?: number };
        try {
          input = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
        } catch {
          reply(400, { __type: "com.amazonaws.sqs#InvalidParameterValue", message: "malformed JSON" });
          return;
        }
        if (target !== "AmazonSQS.SendMessage") {
          reply(400, {
            __type: "com.amazonaws.sqs#UnsupportedOperation",
            message: `${target} is not supported locally`,
          });
          return;
        }
        const queue = [...this.specs.keys()].find((id) => input.QueueUrl === this.url(id));
        if (queue === undefined || typeof input.MessageBody !== "string") {
          reply(400, { __type: "com.amazonaws.sqs#QueueDoesNotExist", message: "The specified queue does not exist." });
          return;
        }
        const delay = input.DelaySeconds ?? 0;
        if (!Number.isInteger(delay) || delay < 0 || delay > 900) {
          reply(400, { __type: "com.amazonaws.sqs#InvalidParameterValue", message: "DelaySeconds must be 0 to 900" });
          return;
        }
        const id = this.send(queue, input.MessageBody, delay * 1000);
        // The SDK checks this digest of the body it sent.
        reply(200, { MessageId: id, MD5OfMessageBody: createHash("md5").update(input.MessageBody).digest("hex") });
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    this.endpoint = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`;
    return this.endpoint;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Enqueues a message (as SendMessage does), applying the chaos settings; returns its id. */
  send(queue: string, body: string, delayMs: number): string {
    const stats = this.stats.get(queue);
    const list = this.messages.get(queue);
    const id = randomUUID();
    if (stats === undefined || list === undefined) return id;
    stats.sent++;
    const kind = kindOf(body);
    stats.sentByKind[kind] = (stats.sentByKind[kind] ?? 0) + 1;
    const random = this.chaos.random ?? Math.random;
    if (random() < this.chaos.loseRate) {
      stats.lost++;
      return id;
    }
    const now = Date.now();
    let visibleAt = now + delayMs;
    if (random() < this.chaos.lateRate) {
      stats.late++;
      visibleAt += random() * this.chaos.maxLateMs;
    }
    list.push({ id, body, visibleAt, sentAt: now, receiveCount: 0 });
    if (random() < this.chaos.duplicateRate) {
      stats.duplicated++;
      list.push({ id, body, visibleAt: visibleAt + random() * 1_000, sentAt: now, receiveCount: 0 });
    }
    return id;
  }

  /** The bodies of the messages on `queue` not taken yet, delayed or not (a test playing the poller by hand). */
  pendingBodies(queue: string): string[] {
    return (this.messages.get(queue) ?? []).map((m) => m.body);
  }

  /** Takes up to `max` visible messages, hiding them for the visibility timeout; expired ones are dropped. */
  receive(queue: string, max: number): Message[] {
    const list = this.messages.get(queue) ?? [];
    const spec = this.specs.get(queue);
    const stats = this.stats.get(queue);
    if (spec === undefined || stats === undefined) return [];
    const now = Date.now();
    const taken: Message[] = [];
    for (let i = list.length - 1; i >= 0; i--) {
      const m = list[i];
      if (m !== undefined && now - m.sentAt > spec.retentionMs) {
        list.splice(i, 1);
        stats.expired++;
      }
    }
    for (const m of list) {
      if (taken.length >= max) break;
      if (m.visibleAt > now) continue;
      m.visibleAt = now + spec.visibilityTimeoutMs;
      m.receiveCount++;
      taken.push(m);
    }
    if (taken.length > 0) {
      stats.receives++;
      stats.delivered += taken.length;
    }
    return taken;
  }

  /** Deletes a delivered message (Lambda does, after a successful invocation). */
  delete(queue: string, message: Message): void {
    const list = this.messages.get(queue) ?? [];
    const i = list.indexOf(message);
    if (i >= 0) {
      list.splice(i, 1);
      const stats = this.stats.get(queue);
      if (stats !== undefined) stats.deleted++;
    }
  }

  /** Counts a failed delivery; the message stays hidden until its visibility timeout ends. */
  failed(queue: string): void {
    const stats = this.stats.get(queue);
    if (stats !== undefined) stats.failed++;
  }

  /** The SQS event Lambda sends for `messages` of `queue`. */
  event(queue: string, messages: readonly Message[]): SQSEvent {
    return {
      Records: messages.map(
        (m): SQSRecord => ({
          messageId: m.id,
          receiptHandle: `${m.id}#${m.receiveCount}`,
          body: m.body,
          attributes: {
            ApproximateReceiveCount: String(m.receiveCount),
            SentTimestamp: String(m.sentAt),
            SenderId: account,
            ApproximateFirstReceiveTimestamp: String(m.sentAt),
          },
          messageAttributes: {},
          md5OfBody: "",
          eventSource: "aws:sqs",
          eventSourceARN: this.arn(queue),
          awsRegion: region,
        }),
      ),
    };
  }
}

/** A function an SQS mapping invokes. */
export interface SqsTarget {
  name: string;
  invoke(event: unknown): Promise<unknown>;
}

/**
 * The SQS event source mappings of serverless.yml, polling the local queues every `pollMs` and
 * invoking their functions; `stopping()` ends delivery (messages stay queued).
 */
export class SqsMappings {
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Map<string, number>();

  constructor(
    private readonly sqs: LocalSqs,
    private readonly specs: readonly FunctionSpec[],
    private readonly targets: ReadonlyMap<string, SqsTarget>,
    private readonly pollMs = 100,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.poll(), this.pollMs);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private poll(): void {
    for (const spec of this.specs) {
      const target = this.targets.get(spec.name);
      if (target === undefined) continue;
      for (const mapping of spec.sqs) {
        const key = `${spec.name}:${mapping.queue}`;
        // Lambda's poller scales to the mapping's maximum concurrency (5 pollers by default).
        const limit = mapping.maximumConcurrency ?? 5;
        while ((this.inFlight.get(key) ?? 0) < limit) {
          const batch = this.sqs.receive(mapping.queue, mapping.batchSize);
          if (batch.length === 0) break;
          this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
          target
            .invoke(this.sqs.event(mapping.queue, batch))
            .then(
              (result) => {
                const failed = new Set(
                  mapping.reportBatchItemFailures
                    ? (
                        (result as { batchItemFailures?: { itemIdentifier: string }[] } | null)?.batchItemFailures ?? []
                      ).map((f) => f.itemIdentifier)
                    : [],
                );
                for (const m of batch) {
                  if (failed.has(m.id)) this.sqs.failed(mapping.queue);
                  else this.sqs.delete(mapping.queue, m);
                }
              },
              () => {
                for (const _ of batch) this.sqs.failed(mapping.queue);
              },
            )
            .finally(() => this.inFlight.set(key, (this.inFlight.get(key) ?? 1) - 1));
        }
      }
    }
  }
}

/** The `kind` of a JSON message body, "" for anything else. */
function kindOf(body: string): string {
  try {
    const kind = (JSON.parse(body) as { kind?: unknown } | null)?.kind;
    return typeof kind === "string" ? kind : "";
  } catch {
    return "";
  }
}
