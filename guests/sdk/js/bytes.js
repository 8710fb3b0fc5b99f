// Byte lists cross the component boundary as arrays of numbers or typed arrays, depending on
// the direction and the toolchain; the SDK hands out and takes Uint8Array.

const encoder = new TextEncoder();

// Bytes of a string (UTF-8), a typed array, an ArrayBuffer or an array of byte values. Other
// values are refused rather than stored as "[object Object]": use the *Json calls for those.
export function toBytes(value) {
  if (value === undefined || value === null) return new Uint8Array();
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (Array.isArray(value) && value.every((byte) => Number.isInteger(byte) && byte >= 0 && byte <= 255)) {
    return Uint8Array.from(value);
  }
  if (typeof value === "string") return encoder.encode(value);
  throw new TypeError(`expected a string or bytes, got ${Array.isArray(value) ? "an array of non-bytes" : typeof value}; use the JSON calls (setJson, publish) for other values`);
}

// A byte list from the platform as Uint8Array, or undefined when absent.
export function fromPlatform(value) {
  return value === undefined ? undefined : toBytes(value);
}
