/**
 * Looking for a token where it must never be: anywhere but the Authorization header (DESIGN.md
 * "Configuration"). Shared by the token-leak tests and the soak, which scans everything the
 * functions sent or wrote under faults.
 */

/** The forms a token can take in text: the whole token and, for a v2 token, its bare secret. */
export function secretForms(token: string): string[] {
  const parts = token.split("/");
  const bare = token.startsWith("v2/") ? parts[2] : undefined;
  return [token, ...(bare === undefined ? [] : [bare])];
}

/** One thing to look for: a secret as is, or the part of its base64 that is the same at one alignment. */
interface SecretPattern {
  secret: string;
  needle: string;
  base64: boolean;
}

/** Each secret, then its base64 at the three alignments, in the order `findSecret` reports them. */
function secretPatterns(secrets: readonly string[]): SecretPattern[] {
  return secrets.flatMap((secret) => [
    { secret, needle: secret, base64: false },
    ...[0, 1, 2].map((offset) => {
      // The part of base64(secret) that does not depend on the bytes around it.
      const encoded = Buffer.concat([Buffer.alloc(offset), Buffer.from(secret)]).toString("base64");
      return { secret, needle: encoded.slice(offset === 0 ? 0 : 4, -4), base64: true };
    }),
  ]);
}

function matchSecret(text: string, patterns: readonly SecretPattern[]): string | undefined {
  const views = [text];
  try {
    const decoded = decodeURIComponent(text);
    if (decoded !== text) views.push(decoded);
  } catch {
    // not URL-encoded
  }
  const found = patterns.find((p) => views.some((v) => v.includes(p.needle)));
  return found === undefined ? undefined : found.base64 ? `${found.secret} (base64)` : found.secret;
}

/**
 * The first secret form found in `text`, as is or inside base64 at any alignment, also after
 * URL-decoding (EC2's Query protocol sends user data as URL-encoded base64); or undefined.
 */
export function findSecret(text: string, secrets: readonly string[]): string | undefined {
  return matchSecret(text, secretPatterns(secrets));
}

/** One place the token was found: where, and in which form (never the token itself). */
export interface SecretLeak {
  place: string;
  form: string;
}

/** A tally of texts checked for one token, by place, and of the leaks found. */
export class SecretScan {
  readonly checked: Record<string, number> = {};
  readonly leaks: SecretLeak[] = [];
  private readonly forms: string[];
  private readonly patterns: SecretPattern[];

  constructor(token: string) {
    this.forms = secretForms(token);
    this.patterns = secretPatterns(this.forms);
  }

  check(place: string, text: string): void {
    this.checked[place] = (this.checked[place] ?? 0) + 1;
    const found = matchSecret(text, this.patterns);
    if (found === undefined) return;
    const form = found.startsWith(this.forms[0] ?? "") ? "the whole token" : "the token's secret";
    this.leaks.push({ place, form: found.endsWith(" (base64)") ? `${form}, base64-encoded` : form });
  }

  /** Checks each line of `text` on its own, so a leak is counted per log line. */
  checkLines(place: string, text: string): void {
    for (const line of text.split("\n")) if (line !== "") this.check(place, line);
  }
}
