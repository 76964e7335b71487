import type { EC2Client } from "@aws-sdk/client-ec2";
import { createEc2Client } from "../../lib/cloud/client.js";

/** The handlers' EC2 client (no SDK retries), pointed at a simulator on loopback with dummy credentials. */
export function localEc2Client(endpoint: string): EC2Client {
  return createEc2Client({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
}
