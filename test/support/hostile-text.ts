import { inspect } from "node:util";

export { findSecret, secretForms } from "../../local/secret-scan.js";

/*
 * Text helpers for hostile-input and token-leak tests: how an error can end up as text, and
 * the secret scanner itself is local/secret-scan.ts.
 */

/** A distinctive token secret: if it shows up anywhere but an Authorization header, that is a leak. */
export const canarySecret = "SECRET-canary-0123456789abcdef";

/** The rejection of `promise`, or a failure if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection, but it resolved");
}

/** Every way an error can end up as text: message, stack, String, JSON, inspection (with causes). */
export function errorTexts(err: unknown): string[] {
  const e = err as Error;
  return [
    String(e?.message),
    String(e?.stack),
    String(e),
    JSON.stringify(e) ?? "",
    inspect(e, { depth: 10, showHidden: true, getters: true }),
  ];
}
