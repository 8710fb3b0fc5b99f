/** @module Interface nimbus:platform/auth-admin@0.2.0 **/
/**
 * Creates a user with a password (at least 8 characters) and a role (default
 * "authenticated").
 */
export function createUser(email: string, password: string, role: string | undefined): User;
/**
 * Deletes a user and ends their sessions; `not-found` if there is none.
 */
export function deleteUser(id: string): void;
/**
 * Sets the role carried by the user's next tokens.
 */
export function setRole(id: string, role: string): User;
export type Error = import('./nimbus-platform-types.js').Error;
export type User = import('./nimbus-platform-auth.js').User;
