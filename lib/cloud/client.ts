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
