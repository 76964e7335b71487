/**
 * Configuration errors, and the rules for what a config message may show. A config file can
 * hold secrets (SystemRootToken, AWS keys, the dispatcher's SSH key), so messages name key
 * paths and the kind of problem, and show a value only when it is neither under a
 * secret-looking key nor itself token-shaped.
 */

/** One problem found in a configuration: the key path (cluster-relative) and what is wrong. */
export interface ConfigIssue {
  /** e.g. `Containers.CloudVMs.PollInterval`, `InstanceTypes[m5.large].RAM`; "" for the whole file. */
  path: string;
  message: string;
}

/**
 * A ConfigError is an invalid or unreadable configuration. It carries every issue found, so
 * one failed load reports all of them; the message lists them one per line.
 */
export class ConfigError extends Error {
  override readonly name: string = "ConfigError";
  readonly issues: readonly ConfigIssue[];
  /** Where the configuration came from (a file path, `DISPATCH_CONFIG`), if known. */
  readonly source: string | undefined;

  constructor(issues: readonly ConfigIssue[], source?: string) {
    const where = source === undefined ? "" : ` (${source})`;
    const scrubbed = issues.map((i) => ({ path: i.path, message: redactMessage(i.path, i.message) }));
    const lines = scrubbed.map((i) => `  ${i.path === "" ? "" : `${i.path}: `}${i.message}`);
    super(`invalid dispatcher configuration${where}:\n${lines.join("\n")}`);
    this.issues = scrubbed;
    this.source = source;
  }
}

/**
 * Joins key segments into the path printed in messages. Segments holding a dot (instance
 * type names like `m5.large`) are bracketed, as upstream prints `InstanceTypes[m5.large]`.
 */
export function formatPath(segments: readonly (string | number)[]): string {
  let out = "";
  for (const s of segments) {
    if (typeof s === "number" || /[.[\]\s]/.test(s) || s === "") out += `[${s}]`;
    else out += out === "" ? s : `.${s}`;
  }
  return out;
}

/** Key names whose values are never printed (SystemRootToken, SecretAccessKey, DispatchPrivateKey ...). */
const SECRET_KEY_NAME = /token|secret|key|password/i;

/** Values that look like credentials whatever key holds them (Arvados v2 tokens, long random strings, PEM). */
function looksSecret(value: string): boolean {
  return /^v2\/[a-z0-9]{5}-/i.test(value) || /^[A-Za-z0-9+/=_-]{30,}$/.test(value) || value.includes("-----BEGIN");
}

/** True if a value at this path may be shown in a message. */
export function mayShowValue(path: string, value: string): boolean {
  return !SECRET_KEY_NAME.test(path) && !looksSecret(value) && value.length <= 80;
}

/**
 * The last line of defence: under a secret-looking key, every quoted string in a message is
 * replaced, whoever built the message. Messages quote values with JSON.stringify (showValue).
 */
export function redactMessage(path: string, message: string): string {
  return SECRET_KEY_NAME.test(path) ? message.replace(/"(?:[^"\\]|\\.)*"/g, "(value not shown)") : message;
}

/** A value for a message: quoted like Go's %q, or a placeholder when it must not be shown. */
export function showValue(path: string, value: string): string {
  return mayShowValue(path, value) ? JSON.stringify(value) : "(value not shown)";
}
