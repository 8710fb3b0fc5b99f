/** @module Interface nimbus:platform/config@0.2.0 **/
/**
 * The value of `name`: a key of the component's `config`, or a secret granted to it (none
 * while that secret is not set). Any other name gives `access-denied`, naming the key
 * that would declare or grant it.
 */
export function get(name: string): string | undefined;
export type Error = import('./nimbus-platform-types.js').Error;
