// Queues (`nimbus:platform/queue`), with `queues = ["emails"]`.

import { publish as witPublish } from "nimbus:platform/queue@0.2.0";
import { toBytes } from "./bytes.js";
import { call } from "./errors.js";

// Publishes a string, bytes or (as JSON) any other value; returns the message id.
export function publish(queue, body, { delaySeconds, dedupeKey } = {}) {
  const raw = typeof body === "string" || ArrayBuffer.isView(body) || body instanceof ArrayBuffer;
  const bytes = toBytes(raw ? body : JSON.stringify(body));
  const options = {
    delayMs: delaySeconds === undefined ? undefined : BigInt(Math.round(delaySeconds * 1000)),
    dedupeKey,
  };
  return call(() => witPublish(queue, bytes, options));
}
