/**
 * The IPC messages between the runner and a function host (one child process = one Lambda
 * execution environment). Plain JSON, so events and results cross exactly as Lambda would
 * serialise them.
 */

/** Runner → host: run the handler once. */
export interface InvokeMessage {
  type: "invoke";
  id: number;
  event: unknown;
  timeoutMs: number;
}

/** An error as it crosses the process boundary (Lambda reports errorType and errorMessage). */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
}

/** Host → runner messages. */
export type HostMessage =
  /** The bundle imported (the cold start, including its top-level await, finished). */
  | { type: "ready"; initMs: number }
  /** Importing the bundle failed: Lambda's Runtime.ImportModuleError / init error. */
  | { type: "init-error"; error: SerializedError }
  | { type: "result"; id: number; ok: true; value: unknown; billedMs: number }
  | { type: "result"; id: number; ok: false; error: SerializedError; billedMs: number };

/** Flattens any thrown value into a SerializedError. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) return { name: err.name, message: err.message, ...(err.stack ? { stack: err.stack } : {}) };
  return { name: "Error", message: String(err) };
}
