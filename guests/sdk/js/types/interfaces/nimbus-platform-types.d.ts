/** @module Interface nimbus:platform/types@0.2.0 **/
/**
 * Who made the request, when the route required a verified bearer token.
 */
export interface Identity {
  userId: string,
  email?: string,
  role: string,
}
/**
 * How the instance serving an invocation came to be.
 * # Variants
 * 
 * ## `"cold"`
 * 
 * The component's compiled code had to be loaded first (after scaling to zero).
 * ## `"fresh"`
 * 
 * A new instance from loaded code: nothing survives from earlier invocations. The
 * default.
 * ## `"warm"`
 * 
 * An instance that served earlier invocations (`instances.reuse` above 1).
 * ## `"provisioned"`
 * 
 * An instance kept ready ahead of demand (`instances.min`).
 */
export type StartKind = 'cold' | 'fresh' | 'warm' | 'provisioned';
/**
 * What started an invocation.
 * # Variants
 * 
 * ## `"http"`
 * 
 * An HTTP request to one of the component's routes.
 * ## `"queue"`
 * 
 * A message on a queue the component consumes.
 * ## `"schedule"`
 * 
 * A schedule (cron) firing.
 * ## `"object"`
 * 
 * An object created in or deleted from a bucket.
 * ## `"kv"`
 * 
 * A key-value entry set or deleted.
 */
export type TriggerKind = 'http' | 'queue' | 'schedule' | 'object' | 'kv';
/**
 * What the platform tells a handler about this invocation (the `context` of `handler(event, context)`).
 */
export interface Context {
  /**
   * The request's id, also sent back as the `x-request-id` header: the client's own
   * `x-request-id` when it sent a plain one (up to 64 letters, digits, `-`, `_`, `.`),
   * otherwise one the host made, unique per invocation. Do not use it as a key a client
   * must not be able to choose.
   */
  requestId: string,
  /**
   * The `[app] name` from the manifest.
   */
  app: string,
  /**
   * The `[component.NAME]` being invoked.
   */
  component: string,
  /**
   * Milliseconds since the Unix epoch after which the invocation is cut.
   */
  deadlineMs: bigint,
  /**
   * 1 for the first delivery; higher on retries of events.
   */
  attempt: number,
  identity?: Identity,
  /**
   * Whether this invocation got a new instance, a reused one or one kept ready.
   */
  startKind: StartKind,
  /**
   * The W3C `traceparent` of the trace this invocation belongs to: the one the client
   * sent, when it is valid. It also goes on with the component's outbound requests.
   */
  traceParent?: string,
  /**
   * What started this invocation.
   */
  trigger: TriggerKind,
}
/**
 * Failures a platform call can report back to the guest.
 */
export type Error = ErrorAccessDenied | ErrorNotFound | ErrorInvalid | ErrorUnavailable | ErrorOther;
/**
 * The manifest does not grant this; the string says which key would.
 */
export interface ErrorAccessDenied {
  tag: 'access-denied',
  val: string,
}
export interface ErrorNotFound {
  tag: 'not-found',
}
export interface ErrorInvalid {
  tag: 'invalid',
  val: string,
}
export interface ErrorUnavailable {
  tag: 'unavailable',
  val: string,
}
export interface ErrorOther {
  tag: 'other',
  val: string,
}
