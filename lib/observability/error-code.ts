/**
 * The code an operator looks up for a failure: the EC2 error `code`, the Arvados HTTP `status`,
 * else the error's name. Never the message, which can quote request data.
 */
export function errorCode(err: unknown): string {
  const facts = (typeof err === "object" && err !== null ? err : {}) as {
    code?: unknown;
    status?: unknown;
    name?: unknown;
  };
  if (typeof facts.code === "string") return facts.code;
  if (typeof facts.status === "number") return `HTTP ${facts.status}`;
  if (typeof facts.name === "string") return facts.name;
  return "unknown";
}
