/** @module Interface nimbus:platform/object-store@0.2.0 **/
export type Error = import('./nimbus-platform-types.js').Error;
export interface ObjectInfo {
  key: string,
  size: bigint,
  /**
   * An opaque tag of this version of the content: equal tags mean equal content.
   */
  etag: string,
  contentType: string,
  /**
   * Milliseconds since the Unix epoch.
   */
  createdAtMs: bigint,
  updatedAtMs: bigint,
}
/**
 * One page of `list`.
 */
export interface ObjectPage {
  objects: Array<ObjectInfo>,
  /**
   * With a delimiter: the folders under the prefix, each ending with the delimiter.
   */
  folders: Array<string>,
  /**
   * Pass back to continue; none when the listing is complete.
   */
  cursor?: string,
}

export class Bucket {
  /**
   * This type does not have a public constructor.
   */
  private constructor();
  /**
  * Opens a granted bucket; others give `access-denied`.
  */
  static open(name: string): Bucket;
  /**
  * The whole object, or none. Objects larger than the component's memory limit need
  * `get-range`.
  */
  get(key: string): Uint8Array | undefined;
  /**
  * `length` bytes from `offset` (fewer at the end of the object), or none.
  */
  getRange(key: string, offset: bigint, length: bigint): Uint8Array | undefined;
  /**
  * Stores `data` under `key`, replacing any object there.
  */
  put(key: string, data: Uint8Array, contentType: string): ObjectInfo;
  head(key: string): ObjectInfo | undefined;
  /**
  * True when there was an object to delete.
  */
  'delete'(key: string): boolean;
  /**
  * Objects (and, with a delimiter such as "/", folders) under `prefix`, in key order.
  */
  list(prefix: string, delimiter: string | undefined, cursor: string | undefined): ObjectPage;
  /**
  * A URL path (`/storage/v1/object/sign/...?token=...`) that allows `method` ("GET" or
  * "PUT") on this object, without other credentials, for `ttl-seconds`.
  */
  signedUrl(key: string, method: string, ttlSeconds: number): string;
}
