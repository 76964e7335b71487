/**
 * `npm start`: the whole dispatcher on one machine (see README, "Running locally").
 *
 *   npm start -- [--workload file.json] [--config file.yml] [--tick 5s] [--timeout 5m]
 *                [--headless] [--worker-agents] [--arvados [--allow-changes]] [--aws]
 *                [--dynamodb-port P] [--arvados-port P] [--ec2-port P] [--dispatch-api-port P]
 *
 * Exit status: 0 when the workload finished, 1 on a timeout or a start-up problem (missing
 * Java, a busy port, no build, a bad config or workload), 130 when interrupted.
 */
import { parseArgs } from "node:util";
import { durationResult } from "../../lib/config/units.js";
import { dryRun } from "./dry-run.js";
import { repoRoot, runLocal } from "./run-local.js";
import { join } from "node:path";

const usage = `usage: npm start -- [options]
  --workload <file.json>  containers to submit (default local/workload.json)
  --config <file>         cluster config to use as is (default local/default-config.yml, PollInterval 2s)
  --tick <duration>       local length of EventBridge's 1-minute schedule (default 5s)
  --timeout <duration>    give up (exit 1) if the workload has not finished (default 5m)
  --headless              plain progress lines instead of a live display
  --worker-mode <m>       per-container (default) or pool: the functions' WORKER_MODE; pool implies --worker-agents
  --worker-agents         run the real worker agent (user data under sh, IMDS, simulated crunch-run) on worker instances
  --arvados               a real cluster (ARVADOS_API_HOST, ARVADOS_API_TOKEN), DRY RUN: decisions are printed, nothing changes
  --allow-changes         with --arvados: run the real handlers against it (locks, launches, cancels)
  --aws                   with --arvados --allow-changes: AWS's DynamoDB (QUEUE_TABLE_NAME) and EC2 as the AWS_*
                          environment says; in a dry run: also list the dispatcher's instances in EC2 (read-only)
  --dynamodb-port, --arvados-port, --ec2-port, --dispatch-api-port <port>   fixed ports instead of free ones
`;

function duration(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = durationResult(value);
  if (!parsed.ok || parsed.value <= 0)
    throw new UsageError(`${flag}: ${parsed.ok ? "must be positive" : parsed.message} (e.g. 5s, 500ms, 2m)`);
  return parsed.value;
}

function port(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${flag}: not a port: ${value}`);
  return n;
}

class UsageError extends Error {
  override readonly name = "UsageError";
}

async function main(): Promise<number> {
  // The terminal is for the live display; an SDK Node version notice is not news here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const { values } = parseArgs({
    options: {
      workload: { type: "string" },
      config: { type: "string" },
      tick: { type: "string" },
      timeout: { type: "string" },
      headless: { type: "boolean", default: false },
      "worker-agents": { type: "boolean", default: false },
      "worker-mode": { type: "string" },
      arvados: { type: "boolean", default: false },
      "allow-changes": { type: "boolean", default: false },
      aws: { type: "boolean", default: false },
      "dynamodb-port": { type: "string" },
      "arvados-port": { type: "string" },
      "ec2-port": { type: "string" },
      "dispatch-api-port": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  if (values["allow-changes"] && !values.arvados)
    throw new UsageError("--allow-changes only makes sense with --arvados");
  const stateDir = join(repoRoot, ".local");
  const dynamodbPort = port(values["dynamodb-port"], "--dynamodb-port");

  if (values.arvados && !values["allow-changes"]) {
    await dryRun({
      ...(values.config === undefined ? {} : { configPath: values.config }),
      stateDir,
      aws: values.aws,
      ...(dynamodbPort === undefined ? {} : { dynamodbPort }),
      out: process.stdout,
      env: process.env,
    });
    return 0;
  }

  // Whatever ends the run, it ends through runLocal's teardown, so DynamoDB Local (a Java
  // process of its own) is never left behind. Ctrl-C still prints the summary; tsx relays the
  // signal too, so one keypress can arrive twice: only a third signal quits at once.
  const abort = new AbortController();
  let signals = 0;
  const onSignal = () => {
    if (++signals >= 3) process.exit(130);
    abort.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("unhandledRejection", (reason) => {
    process.stderr.write(`npm start: unexpected error: ${reason instanceof Error ? reason.message : String(reason)}\n`);
    abort.abort(reason instanceof Error ? reason : new Error(String(reason)));
  });
  // A closed stdout (`npm start | head`) stops the run instead of crashing it.
  let stdoutClosed = false;
  process.stdout.on("error", () => {
    stdoutClosed = true;
    abort.abort(new Error("stdout was closed"));
  });
  const out = {
    write: (text: string) => stdoutClosed || process.stdout.write(text),
    isTTY: process.stdout.isTTY === true,
    get columns() {
      return process.stdout.columns;
    },
  };
  const arvadosPort = port(values["arvados-port"], "--arvados-port");
  const ec2Port = port(values["ec2-port"], "--ec2-port");
  const dispatchApiPort = port(values["dispatch-api-port"], "--dispatch-api-port");
  const summary = await runLocal({
    ...(values.workload === undefined ? {} : { workload: values.workload }),
    ...(values.config === undefined ? {} : { configPath: values.config }),
    tickMs: duration(values.tick, "--tick", 5_000),
    // Against a real cluster there is no workload to finish: run until interrupted unless told.
    timeoutMs: duration(values.timeout, "--timeout", values.arvados ? Number.POSITIVE_INFINITY : 5 * 60_000),
    headless: values.headless || process.stdout.isTTY !== true,
    workerAgents: values["worker-agents"],
    ...(values["worker-mode"] === "pool" || values["worker-mode"] === "per-container"
      ? { workerMode: values["worker-mode"] }
      : {}),
    aws: values.aws,
    realArvados: values.arvados,
    ports: {
      ...(dynamodbPort === undefined ? {} : { dynamodb: dynamodbPort }),
      ...(arvadosPort === undefined ? {} : { arvados: arvadosPort }),
      ...(ec2Port === undefined ? {} : { ec2: ec2Port }),
      ...(dispatchApiPort === undefined ? {} : { dispatchApi: dispatchApiPort }),
    },
    stateDir,
    out,
    signal: abort.signal,
  });
  if (summary.finished) return 0;
  process.stderr.write(`The workload did not finish: ${summary.stopReason ?? "stopped"}.\n`);
  return summary.stopReason === "interrupted" ? 130 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    // Start-up problems carry their own advice (Java, busy port, build, config); a usage error gets the usage.
    process.stderr.write(`npm start: ${err instanceof Error ? err.message : String(err)}\n`);
    if (
      err instanceof UsageError ||
      (err instanceof Error && err.name === "TypeError" && /parseArgs|option/i.test(err.message))
    ) {
      process.stderr.write(usage);
    }
    process.exit(1);
  },
);
