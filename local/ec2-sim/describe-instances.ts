import { Ec2SimError, type SimInstance } from "./model.js";
import type { QueryParams } from "./query-params.js";

/** The values an instance has for each supported DescribeInstances filter name. */
const filterFields: Record<string, (i: SimInstance) => string[]> = {
  "instance-id": (i) => [i.instanceId],
  "instance-state-name": (i) => [i.state],
  "instance-type": (i) => [i.instanceType],
  "client-token": (i) => (i.clientToken === undefined ? [] : [i.clientToken]),
  "subnet-id": (i) => [i.subnetId],
  "reservation-id": (i) => [i.reservationId],
  "instance-lifecycle": (i) => (i.market === "spot" ? ["spot"] : []),
  "tag-key": (i) => Object.keys(i.tags),
};

function fieldOf(name: string): (i: SimInstance) => string[] {
  if (name.startsWith("tag:")) {
    const key = name.slice(4);
    return (i) => (key in i.tags ? [i.tags[key] ?? ""] : []);
  }
  const f = filterFields[name];
  if (!f) throw new Ec2SimError("InvalidParameterValue", `The filter '${name}' is invalid`);
  return f;
}

// EC2 filter values may use * (any run) and ? (one character).
function valueMatcher(pattern: string): (v: string) => boolean {
  if (!/[*?]/.test(pattern)) return (v) => v === pattern;
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replaceAll("*", ".*")
      .replaceAll("?", ".")}$`,
    "s",
  );
  return (v) => re.test(v);
}

/** A predicate for the request's Filter.N list: every filter must match one of its values. */
export function parseFilters(q: QueryParams): (i: SimInstance) => boolean {
  const filters = q.members("Filter").map((f) => {
    const name = f.get("Name") ?? "";
    const field = fieldOf(name);
    const matchers = f.list("Value").map(valueMatcher);
    return (i: SimInstance) => field(i).some((v) => matchers.some((m) => m(v)));
  });
  return (i) => filters.every((f) => f(i));
}

/** One page of DescribeInstances. */
export interface DescribePage {
  instances: SimInstance[];
  nextToken?: string;
}

interface PageToken {
  offset: number;
}

function encodeToken(t: PageToken): string {
  return Buffer.from(JSON.stringify(t)).toString("base64url");
}

function decodeToken(s: string): PageToken {
  try {
    const t = JSON.parse(Buffer.from(s, "base64url").toString("utf8")) as Partial<PageToken>;
    if (typeof t.offset === "number" && Number.isInteger(t.offset) && t.offset >= 0) return { offset: t.offset };
  } catch {
    // fall through to EC2's error
  }
  throw new Ec2SimError("InvalidParameterValue", "Unable to parse pagination token");
}

/**
 * DescribeInstances over `visible` (in launch order): InstanceId.N (every id must exist), Filter.N,
 * and MaxResults (5–1000, not with InstanceId) with an opaque NextToken.
 */
export function describeInstances(q: QueryParams, visible: SimInstance[]): DescribePage {
  const ids = q.list("InstanceId");
  const maxResults = q.int("MaxResults");
  if (ids.length > 0 && maxResults !== undefined) {
    throw new Ec2SimError(
      "InvalidParameterCombination",
      "The parameter instancesSet cannot be used with the parameter maxResults",
    );
  }
  if (maxResults !== undefined && !(maxResults >= 5 && maxResults <= 1000)) {
    throw new Ec2SimError(
      "InvalidParameterValue",
      `Value ( ${maxResults} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.`,
    );
  }
  let selected = visible;
  if (ids.length > 0) {
    const known = new Set(visible.map((i) => i.instanceId));
    const missing = ids.filter((id) => !known.has(id));
    if (missing.length === 1) {
      throw new Ec2SimError("InvalidInstanceID.NotFound", `The instance ID '${missing[0]}' does not exist`);
    }
    if (missing.length > 1) {
      throw new Ec2SimError("InvalidInstanceID.NotFound", `The instance IDs '${missing.join(", ")}' do not exist`);
    }
    const wanted = new Set(ids);
    selected = selected.filter((i) => wanted.has(i.instanceId));
  }
  selected = selected.filter(parseFilters(q));
  const token = q.get("NextToken");
  const offset = token ? decodeToken(token).offset : 0;
  if (maxResults === undefined) return { instances: selected.slice(offset) };
  const page = selected.slice(offset, offset + maxResults);
  const end = offset + page.length;
  return end < selected.length ? { instances: page, nextToken: encodeToken({ offset: end }) } : { instances: page };
}
