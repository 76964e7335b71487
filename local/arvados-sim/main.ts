/**
 * Runs the Arvados API simulator alone (`npm run sim:arvados -- --port P`): prints its base
 * URL and the test tokens it accepts (this developer tool's own tokens, printed on purpose),
 * and serves until SIGINT or SIGTERM.
 */

import { parseArgs } from "node:util";
import { ArvadosSimulator } from "./simulator.js";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "0" },
      "max-dispatch-attempts": { type: "string" },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --port ${values.port}`);
  const maxDispatchAttempts =
    values["max-dispatch-attempts"] === undefined ? undefined : Number(values["max-dispatch-attempts"]);

  const sim = new ArvadosSimulator({ maxDispatchAttempts });
  const baseUrl = await sim.start(port);
  process.stdout.write(`Arvados API simulator listening on ${baseUrl}\n`);
  process.stdout.write(`  ARVADOS_API_HOST=${baseUrl}\n`);
  for (const token of sim.listTokens()) {
    process.stdout.write(`  token ${token.admin ? "(admin)" : "(user) "} ${token.token}\n`);
  }
  process.stdout.write(`  controls: ${baseUrl}/_sim/...  (tokens, containers, faults, settings, requests, stats)\n`);

  const shutdown = () => {
    sim.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`arvados-sim: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
