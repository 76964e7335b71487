import { inspect } from "node:util";

/*
 * Text helpers for hostile-input and token-leak tests: how an error can end up as text, and
 * how a secret can hide in text.
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

/** The forms a token can take in text: the whole token and, for a v2 token, its bare secret. */
export function secretForms(token: string): string[] {
  const parts = token.split("/");
  const bare = token.startsWith("v2/") ? parts[2] : undefined;
  return [token, ...(bare === undefined ? [] : [bare])];
}

/** The first secret form found in `text` (also after URL- and base64-decoding candidates), or undefined. */
export function findSecret(text: string, secrets: readonly string[]): string | undefined {
  const views = [text];
  try {
    views.push(decodeURIComponent(text));
  } catch {
    // not URL-encoded
  }
  for (const secret of secrets) {
    if (views.some((v) => v.includes(secret))) return secret;
    for (const offset of [0, 1, 2]) {
      // The part of base64(secret) that does not depend on the bytes around it, at each alignment.
      const encoded = Buffer.concat([Buffer.alloc(offset), Buffer.from(secret)]).toString("base64");
      if (text.includes(encoded.slice(offset === 0 ? 0 : 4, -4))) return `${secret} (base64)`;
    }
  }
  return undefined;
}
