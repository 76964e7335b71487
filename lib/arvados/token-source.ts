import { getParameter } from "@aws-lambda-powertools/parameters/ssm";

/** Neither ARVADOS_API_TOKEN nor ARVADOS_API_TOKEN_PARAMETER is set, or the parameter is empty. */
export class MissingArvadosTokenError extends Error {
  override readonly name = "MissingArvadosTokenError";
}

/**
 * The Arvados API token: from ARVADOS_API_TOKEN (local runs, the Arvados SDK convention) or, in
 * AWS, from the SSM SecureString parameter named by ARVADOS_API_TOKEN_PARAMETER, decrypted and
 * cached by Powertools for `maxAgeSeconds` so a rotated token is picked up without a redeploy.
 * The token is returned, never logged; errors name the variable or parameter, not the value.
 */
export async function resolveArvadosToken(
  env: NodeJS.ProcessEnv = process.env,
  maxAgeSeconds = 300,
): Promise<string> {
  const direct = env.ARVADOS_API_TOKEN;
  if (direct !== undefined && direct !== "") return direct;
  const parameterName = env.ARVADOS_API_TOKEN_PARAMETER;
  if (parameterName === undefined || parameterName === "") {
    throw new MissingArvadosTokenError("set ARVADOS_API_TOKEN, or ARVADOS_API_TOKEN_PARAMETER to an SSM SecureString name");
  }
  const value = await getParameter(parameterName, { decrypt: true, maxAge: maxAgeSeconds });
  if (value === undefined || value === "") {
    throw new MissingArvadosTokenError(`SSM parameter ${parameterName} is empty or missing`);
  }
  return value;
}
