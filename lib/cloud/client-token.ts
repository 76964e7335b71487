import { createHash } from "node:crypto";
import { checkContainerUuid } from "../model/container-uuid.js";

/** EC2 accepts a ClientToken of at most 64 ASCII characters. */
export const maxClientTokenLength = 64;

/** What identifies one RunInstances request of one launch attempt. */
export interface ClientTokenParts {
  containerUuid: string;
  /** The container's lock_count when it was locked for this launch. */
  attempt: number;
  /** The Arvados instance type name: it determines every type-derived parameter. */
  instanceTypeName: string;
  subnetId?: string;
}

/**
 * The RunInstances ClientToken of one request: `<uuid>-<attempt>-<16 hex>`, the hex being a
 * hash of the instance type name and subnet.
 *
 * Why these parts: EC2 binds a token to the parameters of the first request that used it, and
 * answers IdempotentParameterMismatch to the same token with other parameters, also after that
 * first request failed (e.g. InsufficientInstanceCapacity). The §4.3 subnet loop and the launcher's
 * next-type-on-capacity-error both send, within one attempt, requests that differ in subnet or
 * type, so each (type, subnet) gets its own token; a retry of the *same* request (same container,
 * lock_count, type and subnet, e.g. after a timeout or a re-delivered event) reuses the token and
 * EC2 returns the instance already started instead of starting another. The instance secret and
 * user data must therefore also be the same on such a retry.
 *
 * Deterministic, ASCII, at most 64 characters: if the readable form would be longer, the whole
 * token is a SHA-256 hex digest of all parts. Throws InvalidContainerUuidError if `containerUuid`
 * is not a container uuid.
 */
export function clientToken(p: ClientTokenParts): string {
  checkContainerUuid(p.containerUuid, "RunInstances ClientToken");
  const variant = createHash("sha256")
    .update(`${p.instanceTypeName}\n${p.subnetId ?? ""}`)
    .digest("hex")
    .slice(0, 16);
  const readable = `${p.containerUuid}-${p.attempt}-${variant}`;
  if (readable.length <= maxClientTokenLength && /^[\x21-\x7e]+$/.test(readable)) return readable;
  return createHash("sha256")
    .update(`${p.containerUuid}\n${p.attempt}\n${p.instanceTypeName}\n${p.subnetId ?? ""}`)
    .digest("hex");
}
