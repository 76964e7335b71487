/**
 * A function host: the child process the runner forks for one Lambda execution environment.
 * Its environment was set by the runner before it started; it imports the built bundle once
 * (the cold start, top-level await included), then serves invocations over IPC one at a time,
 * with a Lambda-shaped context whose time budget counts down from the function's timeout.
 * stdout/stderr are the function's log stream (the runner points them at a log file), with
 * Lambda's own INIT_START / START / END / REPORT lines around the function's output.
 *
 * argv: <bundle path> <function name>
 */
import { pathToFileURL } from "node:url";
import type { Context } from "aws-lambda";
import { lambdaContext } from "../lambda-context.js";
import { type HostMessage, type InvokeMessage, serializeError } from "./host-protocol.js";

type Handler = (event: unknown, context: Context) => Promise<unknown>;

function send(message: HostMessage): void {
  process.send?.(message);
}

function platformLine(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function invoke(handler: Handler, functionName: string, message: InvokeMessage): Promise<void> {
  const context = lambdaContext(functionName, message.timeoutMs);
  const started = performance.now();
  platformLine(`START RequestId: ${context.awsRequestId} Version: $LATEST`);
  // Lambda's REPORT line: billed per started millisecond, at the configured memory size.
  const report = (): number => {
    const durationMs = performance.now() - started;
    const billedMs = Math.max(1, Math.ceil(durationMs));
    platformLine(`END RequestId: ${context.awsRequestId}`);
    platformLine(
      `REPORT RequestId: ${context.awsRequestId}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${billedMs} ms\tMemory Size: ${process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? "128"} MB`,
    );
    return billedMs;
  };
  try {
    const value = await handler(message.event, context);
    send({ type: "result", id: message.id, ok: true, value: value ?? null, billedMs: report() });
  } catch (err) {
    const error = serializeError(err);
    // What the Node.js runtime logs for an unhandled handler error.
    console.error(
      JSON.stringify({ errorType: error.name, errorMessage: error.message, stack: error.stack?.split("\n") }),
    );
    send({ type: "result", id: message.id, ok: false, error, billedMs: report() });
  }
}

async function main(): Promise<void> {
  const [bundle, functionName] = process.argv.slice(2);
  if (bundle === undefined || functionName === undefined)
    throw new Error("usage: function-host-child <bundle> <function name>");
  // Ctrl-C in the terminal reaches the whole process group: the runner decides when this ends.
  process.on("SIGINT", () => undefined);
  const started = Date.now();
  platformLine(`INIT_START Runtime Version: nodejs:${process.versions.node} (local) pid ${process.pid}`);
  let handler: Handler;
  try {
    const module = (await import(pathToFileURL(bundle).href)) as { handler?: unknown };
    if (typeof module.handler !== "function") throw new TypeError(`${bundle} does not export a handler function`);
    handler = module.handler as Handler;
  } catch (err) {
    const error = serializeError(err);
    console.error(JSON.stringify({ errorType: error.name, errorMessage: error.message, phase: "init" }));
    send({ type: "init-error", error });
    return;
  }
  send({ type: "ready", initMs: Date.now() - started });

  // One invocation at a time per environment, as in Lambda: anything that arrives early waits.
  let chain = Promise.resolve();
  process.on("message", (message: InvokeMessage) => {
    if (message.type !== "invoke") return;
    chain = chain.then(() => invoke(handler, functionName, message));
  });
  // The runner closes the IPC channel to retire the environment.
  process.on("disconnect", () => process.exit(0));
}

main().catch((err: unknown) => {
  send({ type: "init-error", error: serializeError(err) });
});
