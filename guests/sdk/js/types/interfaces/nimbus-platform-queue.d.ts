/** @module Interface nimbus:platform/queue@0.2.0 **/
/**
 * Publishes `body` (at most 128 KiB) and returns the message's id once it is durable.
 */
export function publish(queue: string, body: Uint8Array, options: PublishOptions): string;
export type Error = import('./nimbus-platform-types.js').Error;
export interface PublishOptions {
  /**
   * Deliver no sooner than this many milliseconds from now (at most 12 hours).
   */
  delayMs?: bigint,
  /**
   * A publish whose dedupe key was seen on this queue in the last 24 hours is dropped
   * and returns the first message's id.
   */
  dedupeKey?: string,
}
