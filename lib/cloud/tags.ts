import type { Tag } from "@aws-sdk/client-ec2";
import { checkContainerUuid } from "../model/container-uuid.js";

/** The tag keys this dispatcher reads and writes on its instances, for one TagKeyPrefix (§4.1). */
export interface InstanceTagKeys {
  instanceSetId: string;
  /** Holds the Arvados instance type *name* (not the provider type). */
  instanceType: string;
  idleBehavior: string;
  instanceSecret: string;
  /** Ours, not upstream's: lets cleanup map an instance to its container without a table read. */
  containerUuid: string;
  /** Ours: marks a pool worker this dispatcher launched (value `pool`); its containers are in its user data and order tags. */
  worker: string;
}

/** The tag keys for `prefix` (§4.1: `<TagKeyPrefix>InstanceSetID`, ... ; default prefix "Arvados"). */
export function instanceTagKeys(prefix: string): InstanceTagKeys {
  return {
    instanceSetId: `${prefix}InstanceSetID`,
    instanceType: `${prefix}InstanceType`,
    idleBehavior: `${prefix}IdleBehavior`,
    instanceSecret: `${prefix}InstanceSecret`,
    containerUuid: `${prefix}ContainerUUID`,
    worker: `${prefix}Worker`,
  };
}

/** What goes into an instance's tags. */
export interface InstanceTagValues {
  tagKeyPrefix: string;
  resourceTags: Readonly<Record<string, string>>;
  instanceSetId: string;
  instanceTypeName: string;
  instanceSecret: string;
  containerUuid: string;
}

/**
 * The tags of a new instance: `ResourceTags` first, then the pool's tags, which win on a key
 * collision (§4.1 defaultTaggingInstanceSet), then our ContainerUUID tag. Throws
 * InvalidContainerUuidError if `containerUuid` is not a container uuid.
 */
export function instanceTags(v: InstanceTagValues): Tag[] {
  checkContainerUuid(v.containerUuid, "EC2 instance tag");
  const keys = instanceTagKeys(v.tagKeyPrefix);
  const tags = new Map<string, string>(Object.entries(v.resourceTags));
  tags.set(keys.instanceSetId, v.instanceSetId);
  tags.set(keys.instanceType, v.instanceTypeName);
  tags.set(keys.idleBehavior, "run");
  tags.set(keys.instanceSecret, v.instanceSecret);
  tags.set(keys.containerUuid, v.containerUuid);
  return [...tags].map(([Key, Value]) => ({ Key, Value }));
}

/**
 * The tags of the instance's EBS volumes: enough to find and account for them (ResourceTags,
 * instance set, container), without the instance secret. Throws InvalidContainerUuidError if
 * `containerUuid` is not a container uuid.
 */
export function volumeTags(v: InstanceTagValues): Tag[] {
  checkContainerUuid(v.containerUuid, "EC2 volume tag");
  const keys = instanceTagKeys(v.tagKeyPrefix);
  const tags = new Map<string, string>(Object.entries(v.resourceTags));
  tags.set(keys.instanceSetId, v.instanceSetId);
  tags.set(keys.containerUuid, v.containerUuid);
  return [...tags].map(([Key, Value]) => ({ Key, Value }));
}

/** A tag list from EC2 as a plain record (entries without a key are dropped). */
export function tagRecord(tags: readonly Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key !== undefined) out[t.Key] = t.Value ?? "";
  return out;
}
