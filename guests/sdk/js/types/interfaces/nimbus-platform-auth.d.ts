/** @module Interface nimbus:platform/auth@0.2.0 **/
/**
 * Checks an access token (signature, issuer, audience, expiry, and that its session was
 * not signed out or revoked) and says whose it is.
 */
export function verifyToken(token: string): Identity;
/**
 * The user with this id, if any.
 */
export function getUser(id: string): User | undefined;
export type Error = import('./nimbus-platform-types.js').Error;
export type Identity = import('./nimbus-platform-types.js').Identity;
/**
 * A user as guests see it (never a password or hash).
 */
export interface User {
  id: string,
  email: string,
  role: string,
  /**
   * Milliseconds since the Unix epoch.
   */
  createdAtMs: bigint,
}
