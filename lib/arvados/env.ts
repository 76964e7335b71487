/**
 * Client settings from the environment, following the Arvados SDK conventions (DESIGN.md
 * "Contracts"): `ARVADOS_API_HOST`, `ARVADOS_API_TOKEN`, `ARVADOS_API_HOST_INSECURE`.
 */

import type { ArvadosClientOptions } from "./client.js";
import { ArvadosConfigError } from "./errors.js";

/** `ARVADOS_API_HOST_INSECURE` values that turn TLS verification off; anything else keeps it on. */
const trueValues = new Set(["1", "true", "yes"]);

/** Whether an environment flag is set to a true value ("1", "true", "yes", any case). */
export function isTrueFlag(value: string | undefined): boolean {
  return value !== undefined && trueValues.has(value.trim().toLowerCase());
}

/**
 * Whether `hostname` (as `URL` normalizes it) is this machine: `localhost`, 127.0.0.0/8 or
 * `[::1]`. The simulators listen there; nothing sent to them crosses a network.
 */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * Refuses a plain `http://` ARVADOS_API_HOST unless it is a loopback address: every request
 * carries the token, which must not cross a network unencrypted.
 */
function checkPlainHttp(apiHost: string): void {
  if (!/^http:\/\//i.test(apiHost)) return;
  let hostname: string;
  try {
    hostname = new URL(apiHost).hostname;
  } catch {
    throw new ArvadosConfigError("ARVADOS_API_HOST", "ARVADOS_API_HOST is not a valid URL");
  }
  if (isLoopbackHost(hostname)) return;
  throw new ArvadosConfigError(
    "ARVADOS_API_HOST",
    `ARVADOS_API_HOST uses plain http:// to ${hostname}, which is not a loopback address: the API token would cross the network unencrypted; use https:// (plain http is for localhost, 127.0.0.0/8 and ::1 only)`,
  );
}

/**
 * Reads the client options from `env`. Throws ArvadosConfigError (with `setting` naming the
 * variable) when the host or token is unset or empty, or the host is a plain `http://` URL to
 * anything but a loopback address. The error never contains the token.
 */
export function arvadosClientOptionsFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): ArvadosClientOptions {
  const apiHost = env.ARVADOS_API_HOST?.trim() ?? "";
  if (apiHost === "") throw new ArvadosConfigError("ARVADOS_API_HOST", "ARVADOS_API_HOST is not set");
  checkPlainHttp(apiHost);
  const token = env.ARVADOS_API_TOKEN?.trim() ?? "";
  if (token === "") throw new ArvadosConfigError("ARVADOS_API_TOKEN", "ARVADOS_API_TOKEN is not set");
  return { apiHost, token, insecure: isTrueFlag(env.ARVADOS_API_HOST_INSECURE) };
}
