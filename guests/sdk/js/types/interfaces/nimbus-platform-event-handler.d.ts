/** @module Interface nimbus:platform/event-handler@0.2.0 **/
/**
 * An error result, a trap or a timeout is retried with backoff up to the trigger's
 * `max_attempts`, then the event goes to its dead-letter queue with the error.
 */
export function handle(ev: Event, ctx: Context): void;
export type Context = import('./nimbus-platform-types.js').Context;
/**
 * A message published to a queue the component consumes (`[[trigger.queue]]`).
 */
export interface QueueMessage {
  queue: string,
  /**
   * The message's id, as `publish` returned it; the same on every attempt.
   */
  id: string,
  body: Uint8Array,
  /**
   * 1 for the first delivery.
   */
  attempt: number,
  /**
   * Milliseconds since the Unix epoch.
   */
  publishedAtMs: bigint,
}
/**
 * A schedule firing (`[[trigger.cron]]`).
 */
export interface Schedule {
  /**
   * The trigger's `name`.
   */
  name: string,
  /**
   * The tick this run is for, in milliseconds since the Unix epoch (it may start a
   * little later, or much later when it is caught up after the host was down).
   */
  scheduledAtMs: bigint,
}
/**
 * An object stored in a bucket (`[[trigger.object]]` with `events = ["created"]`); an
 * overwrite counts as created.
 */
export interface ObjectCreated {
  bucket: string,
  key: string,
  size: bigint,
  contentType: string,
  etag: string,
}
/**
 * An object removed from a bucket (`events = ["deleted"]`).
 */
export interface ObjectDeleted {
  bucket: string,
  key: string,
}
/**
 * What happened to a key-value entry.
 * # Variants
 * 
 * ## `"set"`
 * 
 * ## `"delete"`
 */
export type KvOp = 'set' | 'delete';
/**
 * A key-value entry set or deleted (`[[trigger.kv]]`); read the store for its value.
 */
export interface KvChanged {
  store: string,
  key: string,
  op: KvOp,
}
export type EventKind = EventKindQueueMessage | EventKindSchedule | EventKindObjectCreated | EventKindObjectDeleted | EventKindKvChanged;
export interface EventKindQueueMessage {
  tag: 'queue-message',
  val: QueueMessage,
}
export interface EventKindSchedule {
  tag: 'schedule',
  val: Schedule,
}
export interface EventKindObjectCreated {
  tag: 'object-created',
  val: ObjectCreated,
}
export interface EventKindObjectDeleted {
  tag: 'object-deleted',
  val: ObjectDeleted,
}
export interface EventKindKvChanged {
  tag: 'kv-changed',
  val: KvChanged,
}
export interface Event {
  /**
   * Stable across retries and replays: a handler can use it to skip work it did.
   */
  id: string,
  kind: EventKind,
}
