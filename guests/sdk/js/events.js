// Event handlers (`nimbus:platform/event-handler`): what queue messages, schedules and object
// or key-value changes start. `export const eventHandler = events.handler((event) => ...)`.

import { toBytes } from "./bytes.js";

const decoder = new TextDecoder();

// The event as handlers see it: `{id, type, ...}` where `type` is "queue-message" (with
// queue, messageId, body, attempt, publishedAt, text(), json()), "schedule" (name,
// scheduledAt), "object-created" (bucket, key, size, contentType, etag), "object-deleted"
// (bucket, key) or "kv-changed" (store, key, op: "set" | "delete").
export function fromRecord(record) {
  const { tag, val } = record.kind;
  const event = { id: record.id, type: tag };
  switch (tag) {
    case "queue-message": {
      const body = toBytes(val.body);
      return Object.assign(event, {
        queue: val.queue,
        messageId: val.id,
        body,
        attempt: val.attempt,
        publishedAt: new Date(Number(val.publishedAtMs)),
        text: () => decoder.decode(body),
        json: () => JSON.parse(decoder.decode(body)),
      });
    }
    case "schedule":
      return Object.assign(event, { name: val.name, scheduledAt: new Date(Number(val.scheduledAtMs)) });
    case "object-created":
      return Object.assign(event, { ...val, size: Number(val.size) });
    default:
      return Object.assign(event, val);
  }
}

// The object a component exports as `eventHandler`. A handler that throws fails the
// delivery with the error's message: the event is retried, then dead-lettered.
export function handler(handle) {
  return {
    handle(record, ctx) {
      try {
        const result = handle(fromRecord(record), ctx);
        if (typeof result?.then === "function") {
          throw new Error("the event handler returned a promise: nimbus calls are synchronous, so write handlers without async");
        }
      } catch (error) {
        throw String(error?.message ?? error);
      }
    },
  };
}
