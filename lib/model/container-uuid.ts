/**
 * Arvados container uuids: `<cluster id>-dz642-<15 characters>`, lowercase letters and digits
 * (upstream's uuid shape with the containers' type infix `dz642`). A uuid is checked before it
 * leaves the dispatcher as anything but an API path (an EC2 tag, a RunInstances ClientToken, a
 * crunch-run argument), where a malformed one would be an injection or a silent mismatch.
 */

/** The shape of a container uuid. */
export const containerUuidPattern = /^[a-z0-9]{5}-dz642-[a-z0-9]{15}$/;

/** Whether `value` is a container uuid. */
export function isContainerUuid(value: unknown): value is string {
  return typeof value === "string" && containerUuidPattern.test(value);
}

/** A value for a message: JSON-quoted (control characters escaped) and cut short. */
function shown(value: unknown): string {
  if (typeof value !== "string") return value === null ? "null" : typeof value;
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

/**
 * An InvalidContainerUuidError is a value used as a container uuid that is not one. Only a
 * broken server or a corrupted record produces one; the message shows the value quoted and
 * cut to 64 characters.
 */
export class InvalidContainerUuidError extends Error {
  override readonly name = "InvalidContainerUuidError";
  constructor(
    /** The value that failed the check. */
    readonly value: unknown,
    /** What the uuid was about to become, e.g. "EC2 tag"; names the place in the message. */
    readonly use: string,
  ) {
    super(`${use}: ${shown(value)} is not an Arvados container uuid (xxxxx-dz642-<15 lowercase letters or digits>)`);
  }
}

/** Returns `value` if it is a container uuid; throws InvalidContainerUuidError otherwise. */
export function checkContainerUuid(value: unknown, use = "container uuid"): string {
  if (!isContainerUuid(value)) throw new InvalidContainerUuidError(value, use);
  return value;
}
