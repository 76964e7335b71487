import { instanceStateCodes, type InstanceStateName, type SimInstance } from "./model.js";
import { el, items, text } from "./xml.js";

/** Everything render needs to know beyond the instance. */
export interface RenderContext {
  ownerId: string;
}

function state(name: string, s: InstanceStateName): string {
  return el(name, text("code", instanceStateCodes[s]), text("name", s));
}

function tagSet(tags: Record<string, string>): string {
  return items("tagSet", Object.entries(tags), ([k, v]) => text("key", k) + text("value", v));
}

/** An `<item>` body of an instancesSet, with the members the SDK's `Instance` shape reads. */
export function instanceXml(i: SimInstance, ctx: RenderContext): string {
  const iso = (ms: number) => new Date(ms).toISOString();
  return [
    text("instanceId", i.instanceId),
    text("imageId", i.imageId),
    state("instanceState", i.state),
    text("privateDnsName", `ip-${i.privateIp.replaceAll(".", "-")}.ec2.internal`),
    text("dnsName", ""),
    text("reason", i.stateReason ? `${i.stateReason.message} (${iso(i.stateChangedAt)})` : ""),
    text("keyName", i.keyName),
    text("amiLaunchIndex", i.amiLaunchIndex ?? 0),
    text("instanceType", i.instanceType),
    text("launchTime", iso(i.launchTime)),
    el("placement", text("availabilityZone", i.availabilityZone), text("tenancy", "default")),
    el("monitoring", text("state", "disabled")),
    text("subnetId", i.subnetId),
    text("vpcId", i.vpcId),
    text("privateIpAddress", i.privateIp),
    text("ipAddress", i.publicIp),
    items("groupSet", i.securityGroups, (g) => text("groupId", g)),
    i.stateReason ? el("stateReason", text("code", i.stateReason.code), text("message", i.stateReason.message)) : "",
    text("architecture", "x86_64"),
    text("rootDeviceType", "ebs"),
    text("rootDeviceName", "/dev/xvda"),
    items("blockDeviceMapping", i.blockDevices, (b) =>
      [
        text("deviceName", b.deviceName),
        el(
          "ebs",
          text("volumeId", `vol-${i.instanceId.slice(2)}${b.deviceName.slice(-1)}`),
          text("status", "attached"),
          text("attachTime", iso(i.launchTime)),
          text("deleteOnTermination", b.deleteOnTermination),
        ),
      ].join(""),
    ),
    i.market === "spot" ? text("instanceLifecycle", "spot") : "",
    i.market === "spot" ? text("spotInstanceRequestId", `sir-${i.instanceId.slice(-8)}`) : "",
    text("clientToken", i.clientToken ?? ""),
    tagSet(i.tags),
    i.iamInstanceProfile
      ? el(
          "iamInstanceProfile",
          text("arn", `arn:aws:iam::${ctx.ownerId}:instance-profile/${i.iamInstanceProfile}`),
          text("id", `AIPA${i.instanceId.slice(2).toUpperCase()}`),
        )
      : "",
    el(
      "metadataOptions",
      text("state", "applied"),
      text("httpTokens", i.metadataOptions.httpTokens),
      text("httpPutResponseHopLimit", 1),
      text("httpEndpoint", i.metadataOptions.httpEndpoint),
      text("instanceMetadataTags", i.metadataOptions.instanceMetadataTags ?? "disabled"),
    ),
  ].join("");
}

/** The members of a reservation (the RunInstances reply body, or a reservationSet item). */
export function reservationXml(reservationId: string, instances: SimInstance[], ctx: RenderContext): string {
  return [
    text("reservationId", reservationId),
    text("ownerId", ctx.ownerId),
    el("groupSet"),
    items("instancesSet", instances, (i) => instanceXml(i, ctx)),
  ].join("");
}

/** A reservationSet: the instances grouped by reservation, in the order given. */
export function reservationSetXml(instances: SimInstance[], ctx: RenderContext): string {
  const groups = new Map<string, SimInstance[]>();
  for (const i of instances) groups.set(i.reservationId, [...(groups.get(i.reservationId) ?? []), i]);
  return items("reservationSet", [...groups], ([id, group]) => reservationXml(id, group, ctx));
}

/** A TerminateInstances instancesSet item. */
export function stateChangeXml(instanceId: string, previous: InstanceStateName, current: InstanceStateName): string {
  return text("instanceId", instanceId) + state("currentState", current) + state("previousState", previous);
}
