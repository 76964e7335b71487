/**
 * The soak's token search (invariant `tokenNowhere`): taps on the proxies every function request
 * goes through, and a read of every log the functions wrote, each text checked by a SecretScan.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { SecretScan } from "../secret-scan.js";
import type { tokenScanPlaces } from "./invariants.js";
import type { InterceptedRequest, InterceptPlan } from "./intercept-proxy.js";

type Place = (typeof tokenScanPlaces)[number];

/** `decide`, after checking the request's URL and body (its headers, Authorization among them, are not part of it). */
export function checkingRequests(
  scan: SecretScan,
  place: Place,
  decide: (req: InterceptedRequest) => InterceptPlan,
): (req: InterceptedRequest) => InterceptPlan {
  return (req) => {
    scan.check(place, `${req.method} ${req.path}\n${req.body}`);
    return decide(req);
  };
}

/** An observer for the DynamoDB fault proxy: every request body, hence every item written. */
export function checkingDynamoDbRequests(scan: SecretScan): (body: string) => void {
  const place: Place = "DynamoDB request";
  return (body) => scan.check(place, body);
}

/** Checks every line of every log in `dir`: the functions' output and errors, and the stream's failure records. */
export function checkLogs(scan: SecretScan, dir: string): void {
  const place: Place = "log line";
  for (const name of readdirSync(dir)) scan.checkLines(place, readFileSync(join(dir, name), "utf8"));
}
