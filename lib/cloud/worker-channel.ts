/**
 * The worker channel: how the dispatcher tells the agent on an instance which containers to run
 * and which to kill (DESIGN "Workers that outlive containers"). This module is the one place
 * that knows its format; the agent script (worker-agent.ts) reads it, the scheduler writes it
 * through the builders here, and the simulators and tests parse it back with the parsers here.
 *
 * Two carriers, one vocabulary, no server of our own:
 *
 * - **User data** holds the first containers of every instance of one RunInstances call, one
 *   line per `ami-launch-index`: `#arvados-run <index> <uuid>:<attempt> [<uuid>:<attempt> …]`.
 *   The lines are shell comments after the agent's last command, read back by the agent from
 *   IMDS (`/latest/user-data`), so k instances of one call (MaxCount k) share one user data.
 *   User data cannot change, so these assignments are never removed: the agent starts each once.
 * - **Tags** carry every later order, one tag per container so that orders commute (no
 *   read-modify-write of a shared value, which two launch passes could race on):
 *   key `<TagKeyPrefix>Container:<uuid>`, value `run:<attempt>` or `kill:<attempt>`.
 *   The agent reads them from IMDS (`/latest/meta-data/tags/instance/…`, which needs
 *   `InstanceMetadataTags: enabled`). A tag overrides a user data line for the same container,
 *   so `kill` also stops a container assigned in user data, even before it started.
 *
 * The attempt is a decimal the scheduler picks (the container's `lock_count` is natural): the
 * agent starts a container once per (uuid, attempt), so a repeated or late order never starts a
 * second crunch-run, while a new attempt on the same instance starts afresh.
 *
 * Removing an order (DeleteTags) never stops anything: only `kill` does. The scheduler deletes a
 * container's tag once the container is final or assigned elsewhere, with the value it set, so
 * EC2 deletes it only if no newer order replaced it (`buildUnassignTagsInput`). Tags count against
 * EC2's 50 tags per resource (`assignmentTagBudget`).
 *
 * Who may tag may order: an order tag makes the agent hand the dispatcher's token to crunch-run
 * for that container (crunch-run can only run containers that token locked). Allow
 * `ec2:CreateTags`/`ec2:DeleteTags` of `<prefix>Container:*` keys (IAM `aws:TagKeys`) on the
 * instance set to the dispatcher's roles only.
 *
 * A worker idle for almost TimeoutIdle may power off just as an order reaches it (the agent reads
 * its tags every poll); the dispatcher then sees the instance go and requeues the container, as for
 * any worker that dies. Assigning to workers idle for less than TimeoutIdle minus a few polls keeps
 * that rare.
 *
 * Liveness: the agent reports nothing. Its instance role could only report by writing somewhere
 * (tagging itself needs ec2:CreateTags, a mutating call on the account's shared EC2 request
 * budget, from every instance, every few seconds, and a write permission on instances that a
 * root process on any worker could misuse). The dispatcher infers a worker's state from what it
 * already reads: EC2's instance state (booting = pending or running without a started container),
 * Arvados container states (Locked = assigned, not started yet; Running = crunch-run has it;
 * final = done), and its own record of what it assigned and when. The agent powers off after
 * TimeoutIdle by itself, and the dispatcher's own TimeoutIdle/TimeoutBooting rules bound a
 * worker that misbehaves.
 */
import type { CreateTagsCommandInput, DeleteTagsCommandInput } from "@aws-sdk/client-ec2";
import { checkContainerUuid } from "../model/container-uuid.js";

/** What the agent does with an assigned container. */
export const channelActions = ["run", "kill"] as const;
export type ChannelAction = (typeof channelActions)[number];

/** One container given to a worker: which attempt to start (or kill). */
export interface Assignment {
  containerUuid: string;
  /** A non-negative integer; a new attempt starts the container afresh on the same worker. */
  attempt: number;
}

/** One order as the agent sees it: an assignment and what to do with it. */
export interface ChannelOrder extends Assignment {
  action: ChannelAction;
}

/** Marks a user data assignment line; the agent greps for it. */
export const userDataAssignmentMarker = "#arvados-run";

/** The infix after TagKeyPrefix of a container's order tag: `<prefix>Container:<uuid>`. */
export const orderTagInfix = "Container:";

/** EC2's limit on tags per resource (tagging docs), counting the dispatcher's own tags. */
export const maxTagsPerInstance = 50;

/** EC2's limit on a tag value's length. */
export const maxTagValueLength = 256;

/** EC2's limit on a tag key's length. */
export const maxTagKeyLength = 128;

/**
 * Characters a tag key may hold on an instance with tags in IMDS enabled (EC2 instance metadata
 * docs): letters, digits and `+ - = . , _ : @`; no spaces, no `/`; not `.`, `..` or `_index`.
 */
const imdsTagKey = /^[A-Za-z0-9+\-=.,_:@]+$/;

/** Thrown for a value the channel cannot carry (a bad attempt, a key IMDS cannot serve). */
export class WorkerChannelError extends Error {
  override readonly name = "WorkerChannelError";
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`worker channel: ${field}: ${reason}`);
  }
}

/** Whether `key` can be a tag key of an instance whose tags are in IMDS. */
export function isImdsTagKey(key: string): boolean {
  return key.length <= maxTagKeyLength && imdsTagKey.test(key) && key !== "." && key !== ".." && key !== "_index";
}

function checkAttempt(attempt: number, field: string): void {
  if (!Number.isSafeInteger(attempt) || attempt < 0)
    throw new WorkerChannelError(field, `attempt must be an integer >= 0, not ${attempt}`);
}

function checkAssignment(a: Assignment, field: string): void {
  checkContainerUuid(a.containerUuid, "worker assignment");
  checkAttempt(a.attempt, field);
}

/**
 * The user data lines assigning containers by `ami-launch-index`: `byLaunchIndex[i]` goes to the
 * instance with launch index i. Empty lists produce no line. Append the result to the agent script
 * (`buildWorkerUserData` does). Throws InvalidContainerUuidError or WorkerChannelError.
 */
export function userDataAssignments(byLaunchIndex: readonly (readonly Assignment[])[]): string {
  const lines: string[] = [];
  byLaunchIndex.forEach((assignments, index) => {
    if (assignments.length === 0) return;
    for (const a of assignments) checkAssignment(a, `launch index ${index}`);
    lines.push(
      `${userDataAssignmentMarker} ${index} ${assignments.map((a) => `${a.containerUuid}:${a.attempt}`).join(" ")}`,
    );
  });
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

/** The assignments that user data gives the instance with `launchIndex`, in order; malformed items are skipped, as the agent skips them. */
export function parseUserDataAssignments(userData: string, launchIndex: number): Assignment[] {
  const out: Assignment[] = [];
  for (const line of userData.split("\n")) {
    const [marker, index, ...items] = line.split(" ");
    if (marker !== userDataAssignmentMarker || index !== String(launchIndex)) continue;
    for (const item of items) {
      const m = /^([a-z0-9]{5}-dz642-[a-z0-9]{15}):(\d+)$/.exec(item);
      if (m?.[1] !== undefined && m[2] !== undefined) out.push({ containerUuid: m[1], attempt: Number(m[2]) });
    }
  }
  return out;
}

/** The order tag key of a container: `<prefix>Container:<uuid>`. */
export function orderTagKey(tagKeyPrefix: string, containerUuid: string): string {
  const key = `${tagKeyPrefix}${orderTagInfix}${checkContainerUuid(containerUuid, "worker order tag")}`;
  if (!isImdsTagKey(key))
    throw new WorkerChannelError("TagKeyPrefix", `${JSON.stringify(tagKeyPrefix)} makes a tag key IMDS cannot serve`);
  return key;
}

/** The order tag value: `<action>:<attempt>`. */
export function orderTagValue(action: ChannelAction, attempt: number): string {
  checkAttempt(attempt, "order tag");
  return `${action}:${attempt}`;
}

/**
 * The CreateTags input that gives `instanceId` these orders (assign with `run`, kill with
 * `kill`): one tag per container, so each order replaces only that container's previous one.
 */
export function buildOrderTagsInput(
  tagKeyPrefix: string,
  instanceId: string,
  orders: readonly ChannelOrder[],
): CreateTagsCommandInput {
  return {
    Resources: [instanceId],
    Tags: orders.map((o) => ({
      Key: orderTagKey(tagKeyPrefix, o.containerUuid),
      Value: orderTagValue(o.action, o.attempt),
    })),
  };
}

/**
 * The DeleteTags input that removes these orders from `instanceId`. Each tag names the value it
 * removes, so EC2 deletes it only if it still holds that value: a newer order set meanwhile (a
 * `kill`, another attempt) survives. Removal never stops a running container.
 */
export function buildUnassignTagsInput(
  tagKeyPrefix: string,
  instanceId: string,
  orders: readonly ChannelOrder[],
): DeleteTagsCommandInput {
  return {
    Resources: [instanceId],
    Tags: orders.map((o) => ({
      Key: orderTagKey(tagKeyPrefix, o.containerUuid),
      Value: orderTagValue(o.action, o.attempt),
    })),
  };
}

/**
 * The orders in an instance's tags, in key order; tags that are not orders, or whose value is
 * malformed (the agent ignores those too), are left out.
 */
export function parseOrderTags(tagKeyPrefix: string, tags: Readonly<Record<string, string>>): ChannelOrder[] {
  const prefix = `${tagKeyPrefix}${orderTagInfix}`;
  const out: ChannelOrder[] = [];
  for (const key of Object.keys(tags).sort()) {
    if (!key.startsWith(prefix)) continue;
    const containerUuid = key.slice(prefix.length);
    const m = /^(run|kill):(\d+)$/.exec(tags[key] ?? "");
    if (!/^[a-z0-9]{5}-dz642-[a-z0-9]{15}$/.test(containerUuid) || m?.[1] === undefined || m[2] === undefined) continue;
    out.push({ containerUuid, action: m[1] as ChannelAction, attempt: Number(m[2]) });
  }
  return out;
}

/**
 * What the agent on the instance with `launchIndex` is told, merged as the agent merges it: user
 * data assignments as `run` orders, then tag orders, a tag replacing the user data line of the
 * same container. One order per container, first-seen order.
 */
export function effectiveOrders(
  tagKeyPrefix: string,
  userData: string,
  launchIndex: number,
  tags: Readonly<Record<string, string>>,
): ChannelOrder[] {
  const byUuid = new Map<string, ChannelOrder>();
  for (const a of parseUserDataAssignments(userData, launchIndex)) byUuid.set(a.containerUuid, { ...a, action: "run" });
  for (const o of parseOrderTags(tagKeyPrefix, tags)) byUuid.set(o.containerUuid, o);
  return [...byUuid.values()];
}

/**
 * How many order tags an instance can hold besides its `otherTags` (the dispatcher's own tags and
 * ResourceTags): the scheduler deletes the tags of finished containers to make room.
 */
export function assignmentTagBudget(otherTags: number): number {
  return Math.max(0, maxTagsPerInstance - otherTags);
}
