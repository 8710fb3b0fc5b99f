/** @module Interface nimbus:platform/http-handler@0.2.0 **/
export function handle(req: Request, ctx: Context): Response;
export type Context = import('./nimbus-platform-types.js').Context;
export type Headers = Array<[string, string]>;
export interface Request {
  method: string,
  /**
   * Path without the query string, e.g. `/todos/42`.
   */
  path: string,
  /**
   * Raw query string without the leading `?`; empty when absent.
   */
  query: string,
  headers: Headers,
  /**
   * Values of the matched route's `:param` segments and of its `/...` wildcard (`...`).
   */
  params: Array<[string, string]>,
  body: Uint8Array,
}
export interface Response {
  status: number,
  headers: Headers,
  body: Uint8Array,
}
