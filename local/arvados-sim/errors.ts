/**
 * Errors the simulated API server renders, with upstream's statuses and texts (§5.7 "Errors",
 * `ApplicationController#render_error`): validation failures render their full messages
 * ("State cannot change from Queued to Complete"); raised exceptions render Ruby's
 * `exception.inspect`, e.g. `#<ArvadosModel::LockFailedError: cannot lock when Locked>`.
 */

/** A SimError becomes an HTTP error reply: `status` and the `errors[]` messages (before the request id is appended). */
export class SimError extends Error {
  override readonly name = "SimError";
  constructor(
    readonly status: number,
    readonly messages: readonly string[],
  ) {
    super(messages.join("; "));
  }
}

/** Ruby's `Exception#inspect`: `#<Class: message>`, or `#<Class: Class>` when raised without a message. */
export function rubyInspect(className: string, message?: string): string {
  return `#<${className}: ${message ?? className}>`;
}

/** 404 "Path not found": unknown routes and records not found or not readable (§5.7). */
export function notFound(): SimError {
  return new SimError(404, ["Path not found"]);
}

/** 401 "Not logged in": missing or unknown token. */
export function notLoggedIn(): SimError {
  return new SimError(401, ["Not logged in"]);
}

/** ArgumentError (422): bad filters, select, order, limit, count (§5.7). */
export function argumentError(message: string): SimError {
  return new SimError(422, [rubyInspect("ArgumentError", message)]);
}

/** `ArvadosModel::LockFailedError` (422), §5.4. */
export function lockFailed(message: string): SimError {
  return new SimError(422, [rubyInspect("ArvadosModel::LockFailedError", message)]);
}

/** `ArvadosModel::InvalidStateTransitionError` (422), §5.4. */
export function invalidStateTransition(message: string): SimError {
  return new SimError(422, [rubyInspect("ArvadosModel::InvalidStateTransitionError", message)]);
}

/**
 * `ArvadosModel::PermissionDeniedError` (403). Upstream renders the validation errors
 * collected so far instead of the exception when there are any.
 */
export function permissionDenied(message?: string, collected: readonly string[] = []): SimError {
  return new SimError(
    403,
    collected.length > 0 ? collected : [rubyInspect("ArvadosModel::PermissionDeniedError", message)],
  );
}

/** Validation failures (422) with their full messages. */
export function validationFailed(messages: readonly string[]): SimError {
  return new SimError(422, messages);
}
