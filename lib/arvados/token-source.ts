import { SSMProvider } from "@aws-lambda-powertools/parameters/ssm";

/** Neither ARVADOS_API_TOKEN nor ARVADOS_API_TOKEN_PARAMETER is set, or the parameter is empty. */
export class MissingArvadosTokenError extends Error {
  override readonly name = "MissingArvadosTokenError";
}

/**
 * A TokenSource gives the Arvados client the token for each request. `token()` may answer from
 * a cache; `refresh()` reads the source again (the client calls it once after a 401, so a
 * rotated token is used as soon as the old one is refused). Neither ever logs the value.
 */
export interface TokenSource {
  token(): Promise<string>;
  refresh(): Promise<string>;
}

/** A fixed token (ARVADOS_API_TOKEN: local runs, the Arvados SDK convention). */
export function staticTokenSource(value: string): TokenSource {
  const token = async () => value;
  return { token, refresh: token };
}

/** How long a token read from SSM is reused before SSM is asked again. */
export const tokenMaxAgeSeconds = 300;

/**
 * The token in an SSM SecureString parameter, decrypted and cached by Powertools Parameters for
 * `maxAgeSeconds`: every request asks the cache, so a rotated token is picked up within that
 * time without a redeploy, and at once after a 401 (`refresh` bypasses the cache). Errors name
 * the parameter, never the value.
 */
export function ssmTokenSource(
  parameterName: string,
  options: { provider?: SSMProvider; maxAgeSeconds?: number } = {},
): TokenSource {
  const provider = options.provider ?? new SSMProvider();
  const maxAge = options.maxAgeSeconds ?? tokenMaxAgeSeconds;
  const read = async (forceFetch: boolean) => {
    const value = await provider.get(parameterName, { decrypt: true, maxAge, forceFetch });
    if (typeof value !== "string" || value === "") {
      throw new MissingArvadosTokenError(`SSM parameter ${parameterName} is empty or missing`);
    }
    return value;
  };
  return { token: () => read(false), refresh: () => read(true) };
}

/**
 * The token source the environment names: ARVADOS_API_TOKEN (a fixed token) or, in AWS,
 * ARVADOS_API_TOKEN_PARAMETER (an SSM SecureString name).
 */
export function tokenSourceFromEnv(env: NodeJS.ProcessEnv = process.env, provider?: SSMProvider): TokenSource {
  const direct = env.ARVADOS_API_TOKEN;
  if (direct !== undefined && direct !== "") return staticTokenSource(direct);
  const parameterName = env.ARVADOS_API_TOKEN_PARAMETER;
  if (parameterName === undefined || parameterName === "") {
    throw new MissingArvadosTokenError(
      "set ARVADOS_API_TOKEN, or ARVADOS_API_TOKEN_PARAMETER to an SSM SecureString name",
    );
  }
  return ssmTokenSource(parameterName, provider === undefined ? {} : { provider });
}
