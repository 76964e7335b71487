import type { SSMProvider } from "@aws-lambda-powertools/parameters/ssm";
import { MissingArvadosTokenError, ssmTokenSource } from "../arvados/token-source.js";

/**
 * The cluster's ManagementToken, the one credential the dispatch API accepts (upstream
 * `Cluster.ManagementToken`): DISPATCH_MANAGEMENT_TOKEN locally, or in AWS the SSM SecureString
 * named by DISPATCH_MANAGEMENT_TOKEN_PARAMETER, cached for `tokenMaxAgeSeconds` (so a rotated
 * token is accepted within five minutes, without a redeploy). With neither set, or an empty
 * parameter, it resolves undefined: no token configured, and upstream then refuses every
 * request. A failure to read SSM rejects (never with the value).
 */
export function managementTokenFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  provider?: SSMProvider,
): () => Promise<string | undefined> {
  const direct = env.DISPATCH_MANAGEMENT_TOKEN;
  if (direct !== undefined && direct !== "") return async () => direct;
  const parameterName = env.DISPATCH_MANAGEMENT_TOKEN_PARAMETER;
  if (parameterName === undefined || parameterName === "") return async () => undefined;
  const source = ssmTokenSource(parameterName, provider === undefined ? {} : { provider });
  return async () => {
    try {
      return await source.token();
    } catch (err) {
      if (err instanceof MissingArvadosTokenError) return undefined;
      throw err;
    }
  };
}
