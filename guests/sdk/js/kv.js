// Key-value stores (`nimbus:platform/key-value`): `kv.open("todos")` opens a store the
// manifest grants with `key_value = ["todos"]`; any other name throws NimbusError
// "access-denied". Stores belong to the app and are shared by its components.

import { Store } from "nimbus:platform/key-value@0.2.0";
import { fromPlatform, toBytes } from "./bytes.js";
import { call } from "./errors.js";

const decoder = new TextDecoder();

export function open(name) {
  return new KvStore(call(() => Store.open(name)));
}

export class KvStore {
  constructor(store) {
    this.store = store;
  }

  // The value's bytes, or undefined.
  get(key) {
    return fromPlatform(call(() => this.store.get(key)));
  }

  getText(key) {
    const value = this.get(key);
    return value === undefined ? undefined : decoder.decode(value);
  }

  getJson(key) {
    const value = this.getText(key);
    return value === undefined ? undefined : JSON.parse(value);
  }

  // Stores a string or bytes; with `ttlSeconds`, the key expires after that long.
  set(key, value, { ttlSeconds } = {}) {
    const bytes = toBytes(value);
    call(() =>
      ttlSeconds === undefined
        ? this.store.set(key, bytes)
        : this.store.setExpiring(key, bytes, ttlSeconds),
    );
  }

  setJson(key, value, options) {
    this.set(key, JSON.stringify(value), options);
  }

  // True when there was a value to delete.
  delete(key) {
    return call(() => this.store.delete(key));
  }

  exists(key) {
    return call(() => this.store.exists(key));
  }

  // Every key starting with `prefix`, in order, fetched a page at a time.
  *keys(prefix = "") {
    let cursor;
    do {
      const page = call(() => this.store.listKeys(prefix, cursor));
      yield* page.keys;
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  // Every [key, bytes] starting with `prefix`, in order.
  *entries(prefix = "") {
    let cursor;
    do {
      const page = call(() => this.store.listEntries(prefix, cursor, 1000));
      for (const [key, value] of page.entries) yield [key, toBytes(value)];
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  // Adds `delta` to the number stored as text and returns the new value.
  increment(key, delta = 1) {
    return Number(call(() => this.store.increment(key, BigInt(delta))));
  }

  // Writes `value` only when the current value is `old` (undefined = absent).
  compareAndSwap(key, old, value) {
    const expected = old === undefined ? undefined : toBytes(old);
    return call(() => this.store.compareAndSwap(key, expected, toBytes(value)));
  }

  // Deletes `key` only when its value is `old`; true when deleted.
  compareAndDelete(key, old) {
    if (old === undefined || old === null) throw new TypeError("compareAndDelete needs the value to compare with");
    return call(() => this.store.compareAndDelete(key, toBytes(old)));
  }
}
