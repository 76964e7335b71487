import { describeInstances } from "./describe-instances.js";
import { isLive, stateReasons } from "./lifecycle.js";
import { Ec2SimError, type InstanceStateName, type SimInstance } from "./model.js";
import type { QueryParams } from "./query-params.js";
import { reservationSetXml, reservationXml, stateChangeXml } from "./render.js";
import { checkImdsTagKeys, type LaunchRequest, parseLaunchRequest } from "./run-instances.js";
import type { SimState } from "./sim-state.js";
import { items, replyDocument, text } from "./xml.js";

type Handler = (s: SimState, q: QueryParams, requestId: string) => string;

/** The Actions the simulator answers; any other is InvalidAction. */
const handlers: Record<string, Handler> = {
  RunInstances: runInstances,
  DescribeInstances: (s, q, requestId) => {
    s.lifecycle.settle("describe");
    const page = describeInstances(q, s.lifecycle.listed(s.listingLagMs));
    return replyDocument(
      "DescribeInstances",
      requestId,
      reservationSetXml(page.instances, s),
      text("nextToken", page.nextToken),
    );
  },
  TerminateInstances: terminateInstances,
  CreateTags: createTags,
  DeleteTags: deleteTags,
};

/**
 * Answer one EC2 Query-protocol call with its XML reply. Rejects with an Ec2SimError for
 * anything EC2 would refuse; the caller turns it into an error reply.
 */
export function handleAction(s: SimState, q: QueryParams, requestId: string): string {
  const action = q.get("Action") ?? "";
  const handler = handlers[action];
  if (!handler) throw new Ec2SimError("InvalidAction", `The action ${action} is not valid for this web service.`);
  s.lifecycle.settle("request");
  return handler(s, q, requestId);
}

function runInstances(s: SimState, q: QueryParams, requestId: string): string {
  s.stats.runInstancesCalls += 1;
  if (s.bucket && !s.bucket.take()) {
    s.stats.throttled += 1;
    throw new Ec2SimError("RequestLimitExceeded", "Request limit exceeded.", 503);
  }
  const req = parseLaunchRequest(q);
  const subnetId = req.subnetId ?? s.defaultSubnetId;
  const existing = s.tokens.check(req, (id) => s.lifecycle.get(id));
  if (existing !== undefined) {
    const instances = existing.map((id) => s.lifecycle.require(id));
    return replyDocument("RunInstances", requestId, reservationXml(instances[0]?.reservationId ?? "", instances, s));
  }
  const fault =
    s.faults.take({ action: "RunInstances", instanceType: req.instanceType, subnetId }) ?? quotaFault(s, req);
  if (fault) {
    // Throttles are refused before EC2 looks at the request; other failures bind the token.
    if (fault.code !== "RequestLimitExceeded") s.tokens.bind(req);
    throw fault;
  }
  // As many as the quota leaves room for, between MinCount and MaxCount (quotaFault checked MinCount).
  const count = Math.min(req.maxCount, s.instanceLimit === undefined ? req.maxCount : s.instanceLimit - liveCount(s));
  const instances: SimInstance[] = [];
  for (let index = 0; index < count; index++)
    instances.push(launch(s, req, subnetId, index, instances[0]?.reservationId));
  s.tokens.bind(
    req,
    instances.map((i) => i.instanceId),
  );
  return replyDocument("RunInstances", requestId, reservationXml(instances[0]?.reservationId ?? "", instances, s));
}

function liveCount(s: SimState): number {
  return s.lifecycle.all().filter(isLive).length;
}

function quotaFault(s: SimState, req: LaunchRequest): Ec2SimError | undefined {
  if (s.instanceLimit === undefined) return undefined;
  const live = liveCount(s);
  if (live + req.minCount <= s.instanceLimit) return undefined;
  return new Ec2SimError(
    "InstanceLimitExceeded",
    `You have requested more instances (${live + req.minCount}) than your current instance limit of ${s.instanceLimit} allows for the specified instance type (${req.instanceType}).`,
  );
}

/** One instance of a RunInstances call: the `amiLaunchIndex`-th, in the call's reservation. */
function launch(
  s: SimState,
  req: LaunchRequest,
  subnetId: string,
  amiLaunchIndex: number,
  reservationId?: string,
): SimInstance {
  const n = s.nextSeq();
  const hex = n.toString(16).padStart(17, "0");
  const now = s.now();
  const ip = n + 10;
  const i: SimInstance = {
    instanceId: `i-${hex}`,
    reservationId: reservationId ?? `r-${hex}`,
    amiLaunchIndex,
    seq: n,
    imageId: req.imageId,
    instanceType: req.instanceType,
    state: "pending",
    launchTime: now,
    stateChangedAt: now,
    subnetId,
    vpcId: s.vpcId,
    availabilityZone: s.zoneOf(subnetId),
    privateIp: `10.${(ip >> 16) & 255}.${(ip >> 8) & 255}.${ip & 255}`,
    associatePublicIpAddress: req.associatePublicIpAddress,
    // Each instance of a call gets its own copies: tagging one must not tag its siblings.
    securityGroups: [...req.securityGroups],
    tags: { ...req.tags },
    volumeTags: { ...req.volumeTags },
    clientToken: req.clientToken,
    userData: req.userData,
    market: req.market,
    spotMaxPrice: req.spotMaxPrice,
    spotInterruptionBehavior: req.spotInterruptionBehavior,
    blockDevices: req.blockDevices.map((b) => ({ ...b })),
    metadataOptions: { ...req.metadataOptions },
    iamInstanceProfile: req.iamInstanceProfile,
    keyName: req.keyName,
    shutdownBehavior: req.shutdownBehavior,
    disableApiTermination: req.disableApiTermination,
  };
  // EC2 gives a public address by default only outside a VPC subnet; here only when asked.
  if (req.associatePublicIpAddress === true) i.publicIp = `203.0.113.${n % 250}`;
  s.lifecycle.add(i);
  s.stats.instancesLaunched += 1;
  return i;
}

function terminateInstances(s: SimState, q: QueryParams, requestId: string): string {
  const ids = q.list("InstanceId");
  if (ids.length === 0) throw new Ec2SimError("MissingParameter", "The request must contain the parameter InstanceId");
  // EC2 changes nothing if any id is unknown.
  const missing = ids.filter((id) => !s.lifecycle.get(id));
  if (missing.length > 0) {
    throw new Ec2SimError(
      "InvalidInstanceID.NotFound",
      missing.length === 1
        ? `The instance ID '${missing[0]}' does not exist`
        : `The instance IDs '${missing.join(", ")}' do not exist`,
    );
  }
  const instances = ids.map((id) => s.lifecycle.require(id));
  const locked = instances.find((i) => i.disableApiTermination);
  if (locked) {
    throw new Ec2SimError(
      "OperationNotPermitted",
      `The instance '${locked.instanceId}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.`,
    );
  }
  const changes: [string, InstanceStateName, InstanceStateName][] = instances.map((i) => {
    const previous = s.lifecycle.terminate(i, stateReasons.userTerminate);
    return [i.instanceId, previous, i.state];
  });
  return replyDocument(
    "TerminateInstances",
    requestId,
    items("instancesSet", changes, ([id, prev, cur]) => stateChangeXml(id, prev, cur)),
  );
}

function createTags(s: SimState, q: QueryParams, requestId: string): string {
  const ids = q.list("ResourceId");
  if (ids.length === 0) throw new Ec2SimError("MissingParameter", "The request must contain the parameter ResourceId");
  const instances = ids.map((id) => s.lifecycle.require(id));
  const tags = q.members("Tag").map((t) => [t.get("Key") ?? "", t.get("Value") ?? ""] as const);
  for (const [k] of tags) {
    if (k === "" || k.length > 128 || k.toLowerCase().startsWith("aws:")) {
      throw new Ec2SimError("InvalidParameterValue", `Tag key is invalid: '${k}'`);
    }
  }
  // EC2 checks every instance before it changes any.
  for (const i of instances) {
    if (i.metadataOptions.instanceMetadataTags === "enabled") checkImdsTagKeys(tags.map(([k]) => k));
    if (new Set([...Object.keys(i.tags), ...tags.map(([k]) => k)]).size > 50) {
      throw new Ec2SimError("TagLimitExceeded", "The maximum number of tags is 50");
    }
  }
  for (const i of instances) for (const [k, v] of tags) i.tags[k] = v;
  return replyDocument("CreateTags", requestId, text("return", true));
}

/**
 * DeleteTags as EC2 does it: a tag given with a value is deleted only if it holds that value
 * (an empty value too); one given without a value is deleted whatever it holds; no tags at all
 * deletes every tag (but "aws:" ones, which the simulator never has).
 */
function deleteTags(s: SimState, q: QueryParams, requestId: string): string {
  const ids = q.list("ResourceId");
  if (ids.length === 0) throw new Ec2SimError("MissingParameter", "The request must contain the parameter ResourceId");
  const instances = ids.map((id) => s.lifecycle.require(id));
  const tags = q.members("Tag").map((t) => ({ key: t.get("Key") ?? "", value: t.get("Value") }));
  for (const i of instances) {
    if (tags.length === 0) {
      i.tags = {};
      continue;
    }
    for (const { key, value } of tags) {
      if (value === undefined || i.tags[key] === value) delete i.tags[key];
    }
  }
  return replyDocument("DeleteTags", requestId, text("return", true));
}
