/** @module Interface nimbus:platform/key-value@0.2.0 **/
export type Error = import('./nimbus-platform-types.js').Error;
/**
 * One page of `list-keys`; like `entry-page`, it may be empty while its cursor is some.
 */
export interface KeyPage {
  keys: Array<string>,
  /**
   * Pass back to continue; none when the listing is complete.
   */
  cursor?: string,
}
/**
 * One page of `list-entries`. A page may be empty while its cursor is some (it stepped
 * over many expired keys): keep going until the cursor is none.
 */
export interface EntryPage {
  entries: Array<[string, Uint8Array]>,
  /**
   * Pass back to continue; none when the listing is complete.
   */
  cursor?: string,
}

export class Store {
  /**
   * This type does not have a public constructor.
   */
  private constructor();
  /**
  * Opens a store granted by `key_value = [...]`; others give `access-denied`.
  */
  static open(name: string): Store;
  get(key: string): Uint8Array | undefined;
  /**
  * Stores `value` under `key`, replacing any value (and any time-to-live) it had.
  */
  set(key: string, value: Uint8Array): void;
  /**
  * Stores `value` under `key` for `ttl-seconds` (1 s to 10 years), after which the key
  * reads as absent everywhere (Workers KV's `expirationTtl`).
  */
  setExpiring(key: string, value: Uint8Array, ttlSeconds: number): void;
  /**
  * True when there was a value to delete.
  */
  'delete'(key: string): boolean;
  exists(key: string): boolean;
  /**
  * Keys starting with `prefix`, in order, a page at a time.
  */
  listKeys(prefix: string, cursor: string | undefined): KeyPage;
  /**
  * Keys starting with `prefix` with their values, in order, at most `limit` (and at
  * most 1000, or about 16 MiB of values) per page.
  */
  listEntries(prefix: string, cursor: string | undefined, limit: number): EntryPage;
  /**
  * Adds `delta` to the integer stored as decimal text (absent = 0) and returns the new value.
  */
  increment(key: string, delta: bigint): bigint;
  /**
  * Writes `new` only when the current value equals `old` (none = absent); true when written.
  */
  compareAndSwap(key: string, old: Uint8Array | undefined, new_: Uint8Array): boolean;
  /**
  * Deletes `key` only when its value equals `old`; true when deleted.
  */
  compareAndDelete(key: string, old: Uint8Array): boolean;
}
