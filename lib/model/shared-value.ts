/**
 * A SharedValue is one value that every invocation of every function reads and changes
 * (the dispatch state; lib/store's SharedState keeps it in a `#` item). `modify` is atomic:
 * `change` must be pure, as it may run more than once; it returns what `change` returned.
 */
export interface SharedValue<T> {
  /** The current value (the initial one when nothing is stored yet) and its version. */
  read(): Promise<{ value: T; version: number }>;
  modify<R>(change: (current: T) => { next: T; result: R; expiresAt?: number }): Promise<R>;
}
