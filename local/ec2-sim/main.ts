import { parseArgs } from "node:util";
import { Ec2Simulator } from "./simulator.js";

/**
 * Run the EC2 simulator alone: `tsx local/ec2-sim/main.ts --port P [--throttle]
 * [--pending-ms MS] [--listing-lag-ms MS]`. Prints the base URL (point `AWS_ENDPOINT_URL_EC2` at it) and runs until
 * SIGINT or SIGTERM.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "0" },
      throttle: { type: "boolean", default: false },
      "pending-ms": { type: "string" },
      "instance-limit": { type: "string" },
      "listing-lag-ms": { type: "string" },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: not a port: ${values.port}`);
  const sim = new Ec2Simulator({
    throttle: values.throttle,
    ...(values["pending-ms"] !== undefined ? { pendingMs: Number(values["pending-ms"]) } : {}),
    ...(values["instance-limit"] !== undefined ? { instanceLimit: Number(values["instance-limit"]) } : {}),
    ...(values["listing-lag-ms"] !== undefined ? { listingLagMs: Number(values["listing-lag-ms"]) } : {}),
  });
  const url = await sim.start(port);
  process.stdout.write(`${url}\n`);
  const stop = () => {
    sim.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`ec2-sim: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
