import { EC2Client, type EC2ClientConfig } from "@aws-sdk/client-ec2";

/** How to reach EC2. Unset fields fall back to the SDK's standard environment (AWS_REGION, AWS_ENDPOINT_URL_EC2). */
export interface Ec2ClientOptions {
  /** `DriverParameters.Region`; "" means "from the environment". */
  region?: string;
  endpoint?: string;
  credentials?: EC2ClientConfig["credentials"];
}

/**
 * The EC2 client for a handler, created once per cold start. The SDK makes no retries
 * (maxAttempts 1, like upstream's NopRetryer, §4.3): lib/cloud classifies every error and the
 * caller backs off with the stored throttle delay.
 */
export function createEc2Client(opts: Ec2ClientOptions = {}): EC2Client {
  return new EC2Client({
    maxAttempts: 1,
    ...(opts.region ? { region: opts.region } : {}),
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
  });
}

/** `DriverParameters.Region` names another region than the one this deployment runs in. */
export class RegionMismatchError extends Error {
  override readonly name = "RegionMismatchError";
  constructor(
    readonly configured: string,
    readonly deployed: string,
  ) {
    super(
      `Containers.CloudVMs.DriverParameters.Region is ${configured} but this deployment runs in ${deployed}: ` +
        "deploy the stack in the cluster's region (its roles, table and token parameter are regional), or leave Region empty",
    );
  }
}

/**
 * Honours `DriverParameters.Region`: the functions launch in their own region (AWS_REGION), so a
 * configured Region must be that one; "" accepts any. Throws RegionMismatchError otherwise.
 */
export function checkDriverRegion(configured: string, deployed: string): void {
  if (configured !== "" && configured !== deployed) throw new RegionMismatchError(configured, deployed);
}
