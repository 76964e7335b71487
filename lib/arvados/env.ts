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
 * Reads the client options from `env`. Throws ArvadosConfigError (with `setting` naming the
 * variable) when the host or token is unset or empty. The error never contains the token.
 */
export function arvadosClientOptionsFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): ArvadosClientOptions {
  const apiHost = env.ARVADOS_API_HOST?.trim() ?? "";
  if (apiHost === "") throw new ArvadosConfigError("ARVADOS_API_HOST", "ARVADOS_API_HOST is not set");
  const token = env.ARVADOS_API_TOKEN?.trim() ?? "";
  if (token === "") throw new ArvadosConfigError("ARVADOS_API_TOKEN", "ARVADOS_API_TOKEN is not set");
  return { apiHost, token, insecure: isTrueFlag(env.ARVADOS_API_HOST_INSECURE) };
}
