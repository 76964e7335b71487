/** A conditional write found the item in another state than the caller assumed: a domain outcome, not a failure. */
export class StaleEntryError extends Error {
  override readonly name = "StaleEntryError";
  constructor(
    readonly uuid: string,
    readonly operation: string,
  ) {
    super(`${operation}: entry ${uuid} changed or is absent`);
  }
}
