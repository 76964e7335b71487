import { createHash } from "node:crypto";
import { Ec2SimError, type SimInstance } from "./model.js";
import type { QueryParams } from "./query-params.js";

/** The instance attributes a RunInstances request sets, exactly as the instance keeps them. */
type RequestedAttributes = Pick<
  SimInstance,
  | "imageId"
  | "instanceType"
  | "associatePublicIpAddress"
  | "tags"
  | "volumeTags"
  | "userData"
  | "market"
  | "spotMaxPrice"
  | "spotInterruptionBehavior"
  | "blockDevices"
  | "metadataOptions"
  | "iamInstanceProfile"
  | "keyName"
  | "shutdownBehavior"
  | "disableApiTermination"
  | "securityGroups"
>;

/** A RunInstances request, parsed and validated. */
export interface LaunchRequest extends RequestedAttributes {
  /** EC2 launches between MinCount and MaxCount instances, as many as capacity and quota allow. */
  minCount: number;
  maxCount: number;
  clientToken?: string;
  /** Hash of every parameter but ClientToken: equal requests have equal fingerprints. */
  fingerprint: string;
  subnetId?: string;
}

const envelope = new Set(["Action", "Version", "ClientToken"]);

function invalid(message: string): Ec2SimError {
  return new Ec2SimError("InvalidParameterValue", message);
}

/** Parse and validate RunInstances parameters the way EC2 does for the fields this dispatcher sends. */
export function parseLaunchRequest(q: QueryParams): LaunchRequest {
  const imageId = q.get("ImageId");
  const instanceType = q.get("InstanceType");
  if (!imageId) throw new Ec2SimError("MissingParameter", "The request must contain the parameter ImageId");
  if (!instanceType) throw new Ec2SimError("MissingParameter", "The request must contain the parameter InstanceType");
  const min = q.int("MinCount");
  const max = q.int("MaxCount");
  if (min === undefined || max === undefined) {
    throw new Ec2SimError("MissingParameter", "The request must contain the parameters MinCount and MaxCount");
  }
  if (min < 1) throw invalid(`Value (${min}) for parameter minCount is invalid. Expected a value greater than 0`);
  if (max < min)
    throw invalid(`Value (${max}) for parameter maxCount is invalid. Expected a value of at least minCount (${min})`);
  const clientToken = q.get("ClientToken");
  if (clientToken !== undefined && (clientToken.length > 64 || !/^[\x21-\x7e]*$/.test(clientToken))) {
    throw invalid(`Value (${clientToken}) for parameter clientToken is invalid. Up to 64 ASCII characters`);
  }
  const nic = q.members("NetworkInterface")[0];
  const tagSpecs = q.members("TagSpecification");
  const market = q.sub("InstanceMarketOptions");
  const metadata = q.sub("MetadataOptions");
  const userData = q.get("UserData");
  const req: LaunchRequest = {
    imageId,
    instanceType,
    minCount: min,
    maxCount: max,
    clientToken,
    fingerprint: fingerprint(q),
    subnetId: nic?.get("SubnetId") ?? q.get("SubnetId"),
    securityGroups: nic ? nic.list("SecurityGroupId") : q.list("SecurityGroupId"),
    associatePublicIpAddress: nic?.bool("AssociatePublicIpAddress"),
    tags: tagsOf(tagSpecs, "instance"),
    volumeTags: tagsOf(tagSpecs, "volume"),
    userData: userData === undefined ? undefined : decodeUserData(userData),
    market: market.get("MarketType") === "spot" ? "spot" : "on-demand",
    spotMaxPrice: market.get("SpotOptions.MaxPrice"),
    spotInterruptionBehavior: market.get("SpotOptions.InstanceInterruptionBehavior"),
    blockDevices: q.members("BlockDeviceMapping").map((b) => ({
      deviceName: b.get("DeviceName") ?? "",
      volumeSize: b.int("Ebs.VolumeSize"),
      volumeType: b.get("Ebs.VolumeType"),
      deleteOnTermination: b.bool("Ebs.DeleteOnTermination") ?? true,
    })),
    metadataOptions: {
      httpEndpoint: metadata.get("HttpEndpoint") ?? "enabled",
      httpTokens: metadata.get("HttpTokens") ?? "optional",
      ...(metadata.get("InstanceMetadataTags") === undefined
        ? {}
        : { instanceMetadataTags: metadata.get("InstanceMetadataTags") }),
    },
    iamInstanceProfile: q.get("IamInstanceProfile.Name") ?? q.get("IamInstanceProfile.Arn"),
    keyName: q.get("KeyName"),
    shutdownBehavior: q.get("InstanceInitiatedShutdownBehavior") ?? "stop",
    disableApiTermination: q.bool("DisableApiTermination") ?? false,
  };
  if (req.spotMaxPrice !== undefined && !/^\d+(\.\d+)?$/.test(req.spotMaxPrice)) {
    throw invalid(`Invalid value '${req.spotMaxPrice}' for MaxPrice`);
  }
  if (req.metadataOptions.instanceMetadataTags === "enabled") checkImdsTagKeys(Object.keys(req.tags));
  for (const b of req.blockDevices) {
    if (b.volumeSize !== undefined && !(b.volumeSize >= 1)) throw invalid(`Invalid volume size ${b.volumeSize}`);
  }
  return req;
}

function decodeUserData(b64: string): string {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw invalid("Invalid BASE64 encoding of user data.");
  return Buffer.from(b64, "base64").toString("utf8");
}

// EC2's tag limits: 50 tags a resource, keys ≤ 128 and values ≤ 256 characters, no "aws:" keys.
function tagsOf(specs: QueryParams[], resourceType: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of specs) {
    if (spec.get("ResourceType") !== resourceType) continue;
    for (const t of spec.members("Tag")) {
      const key = t.get("Key") ?? "";
      const value = t.get("Value") ?? "";
      if (key === "" || key.length > 128 || value.length > 256 || key.toLowerCase().startsWith("aws:")) {
        throw new Ec2SimError("InvalidParameterValue", `Tag key or value is invalid: '${key}'`);
      }
      out[key] = value;
    }
  }
  if (Object.keys(out).length > 50) throw new Ec2SimError("TagLimitExceeded", "The maximum number of tags is 50");
  return out;
}

/**
 * EC2 instance metadata docs: with tags in IMDS, an instance's tag keys may hold only letters,
 * digits and `+ - = . , _ : @`, and cannot be `.`, `..` or `_index`.
 */
export function checkImdsTagKeys(keys: readonly string[]): void {
  for (const key of keys) {
    if (!/^[A-Za-z0-9+\-=.,_:@]+$/.test(key) || key === "." || key === ".." || key === "_index") {
      throw new Ec2SimError(
        "InvalidParameterValue",
        `Tag key '${key}' is not allowed on an instance with instance tags in metadata enabled: use letters, numbers and + - = . , _ : @ only`,
      );
    }
  }
}

function fingerprint(q: QueryParams): string {
  const parts = q
    .entries()
    .filter(([k]) => !envelope.has(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}

/** What a ClientToken is bound to: the first processed request's parameters and, if it launched, its instance. */
interface TokenBinding {
  fingerprint: string;
  instanceIds: string[];
}

/**
 * ClientTokens implements RunInstances idempotency as EC2 does: a token is bound to the
 * parameters of the first request that got past validation and throttling, whether it
 * launched or failed (e.g. InsufficientInstanceCapacity); the same token with other parameters
 * is IdempotentParameterMismatch; the same request again returns the instance already launched,
 * or IdempotentInstanceTerminated once that instance has terminated.
 */
export class ClientTokens {
  private readonly bindings = new Map<string, TokenBinding>();

  /** The instance ids a repeated request must return, if the token already launched some. */
  check(req: LaunchRequest, lookup: (id: string) => SimInstance | undefined): string[] | undefined {
    if (req.clientToken === undefined) return undefined;
    const b = this.bindings.get(req.clientToken);
    if (!b) return undefined;
    if (b.fingerprint !== req.fingerprint) {
      throw new Ec2SimError(
        "IdempotentParameterMismatch",
        "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).",
      );
    }
    if (b.instanceIds.length === 0) return undefined;
    const known = b.instanceIds.filter((id) => lookup(id) !== undefined);
    if (known.every((id) => lookup(id)?.state === "terminated")) {
      throw new Ec2SimError(
        "IdempotentInstanceTerminated",
        "The client token you have provided is associated with a terminated instance. Please use a different client token.",
      );
    }
    return known;
  }

  bind(req: LaunchRequest, instanceIds: string[] = []): void {
    if (req.clientToken === undefined) return;
    this.bindings.set(req.clientToken, { fingerprint: req.fingerprint, instanceIds });
  }

  clear(): void {
    this.bindings.clear();
  }
}
