// Buckets (`nimbus:platform/object-store`): `objects.open("uploads")` opens a bucket the
// manifest grants with `buckets = { uploads = "read-write" }`.

import { Bucket as WitBucket } from "nimbus:platform/object-store@0.2.0";
import { fromPlatform, toBytes } from "./bytes.js";
import { call } from "./errors.js";

const decoder = new TextDecoder();

export function open(name) {
  return new Bucket(call(() => WitBucket.open(name)));
}

// An object's metadata with plain numbers for its sizes and times.
function info(record) {
  return record === undefined
    ? undefined
    : {
        key: record.key,
        size: Number(record.size),
        etag: record.etag,
        contentType: record.contentType,
        createdAt: new Date(Number(record.createdAtMs)),
        updatedAt: new Date(Number(record.updatedAtMs)),
      };
}

export class Bucket {
  constructor(bucket) {
    this.bucket = bucket;
  }

  // The object's bytes, or undefined.
  get(key) {
    return fromPlatform(call(() => this.bucket.get(key)));
  }

  // `length` bytes from `offset`, or undefined when the object is absent.
  getRange(key, offset, length) {
    return fromPlatform(call(() => this.bucket.getRange(key, BigInt(offset), BigInt(length))));
  }

  getText(key) {
    const body = this.get(key);
    return body === undefined ? undefined : decoder.decode(body);
  }

  head(key) {
    return info(call(() => this.bucket.head(key)));
  }

  put(key, body, contentType = "application/octet-stream") {
    return info(call(() => this.bucket.put(key, toBytes(body), contentType)));
  }

  delete(key) {
    return call(() => this.bucket.delete(key));
  }

  // One page: {objects, folders, cursor}; with a `delimiter`, keys below it fold into folders.
  list(prefix = "", { delimiter, cursor } = {}) {
    const page = call(() => this.bucket.list(prefix, delimiter, cursor));
    return { objects: page.objects.map(info), folders: page.folders, cursor: page.cursor };
  }

  // Every object under `prefix`, fetched a page at a time.
  *objects(prefix = "") {
    let cursor;
    do {
      const page = this.list(prefix, { cursor });
      yield* page.objects;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  // A URL path (starting with /storage/v1/) that lets anyone holding it `method` the object
  // for `ttlSeconds`.
  signedUrl(key, { method = "GET", ttlSeconds = 300 } = {}) {
    return call(() => this.bucket.signedUrl(key, method, ttlSeconds));
  }
}
