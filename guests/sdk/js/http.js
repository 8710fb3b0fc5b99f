// Requests, responses and a router for nimbus' record handler
// (`nimbus:platform/http-handler`). Uses no platform interface, so any component may import it.

import { toBytes } from "./bytes.js";
import { NimbusError } from "./errors.js";

const decoder = new TextDecoder();

// Thrown by a handler to answer `status` with `{"error": message}`.
export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "HttpError";
    this.status = status;
  }
}

// A response record; `headers` is an object or a list of [name, value] pairs.
export function response(status, body, headers = {}) {
  const list = Array.isArray(headers) ? headers : Object.entries(headers);
  return { status, headers: list.map(([k, v]) => [k, String(v)]), body: toBytes(body) };
}

export function json(status, value, headers = {}) {
  return response(status, JSON.stringify(value, jsonSafe), {
    "content-type": "application/json",
    ...headers,
  });
}

export function text(status, body, headers = {}) {
  return response(status, body, { "content-type": "text/plain; charset=utf-8", ...headers });
}

// WIT's 64-bit integers arrive as BigInt, which JSON.stringify refuses.
function jsonSafe(_key, value) {
  return typeof value === "bigint" ? Number(value) : value;
}

// The request as handlers see it: the record's fields plus helpers.
export class Request {
  constructor(record, ctx, params = {}) {
    this.method = record.method;
    this.path = record.path;
    this.query = new URLSearchParams(record.query);
    this.headers = new Map(record.headers.map(([k, v]) => [k.toLowerCase(), v]));
    this.params = { ...Object.fromEntries(record.params), ...params };
    this.body = toBytes(record.body);
    this.ctx = ctx;
  }

  // The signed-in user ({userId, email, role}) when the route required a token.
  get identity() {
    return this.ctx.identity;
  }

  header(name) {
    return this.headers.get(name.toLowerCase());
  }

  text() {
    return decoder.decode(this.body);
  }

  // The body as JSON; a body that is not JSON answers 400.
  json() {
    try {
      return JSON.parse(this.text());
    } catch {
      throw new HttpError(400, "the body must be JSON");
    }
  }
}

function compile(pattern) {
  const parts = pattern.split("/").filter(Boolean);
  return (segments) => {
    const params = {};
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (part === "*") {
        params["*"] = segments.slice(i).join("/");
        return params;
      }
      if (i >= segments.length) return null;
      if (part.startsWith(":")) params[part.slice(1)] = segments[i];
      else if (part !== segments[i]) return null;
    }
    return segments.length === parts.length ? params : null;
  };
}

function decode(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

// The path segments routes match: those under the manifest route's `/...` when it has one,
// so that a component does not repeat where the manifest mounts it; otherwise the whole path,
// or what follows `base`.
function segmentsOf(record, base) {
  if (base) {
    if (record.path !== base && !record.path.startsWith(`${base}/`)) return null;
    return record.path.slice(base.length).split("/").filter(Boolean).map(decode);
  }
  const rest = record.params.find(([name]) => name === "...");
  if (rest) return rest[1].split("/").filter(Boolean);
  return record.path.split("/").filter(Boolean).map(decode);
}

// Routes by method and path: `:name` matches one segment, a final `*` the rest.
export class Router {
  constructor({ base = "" } = {}) {
    this.base = base.replace(/\/+$/, "");
    this.routes = [];
  }

  on(method, pattern, handler) {
    this.routes.push({ method, match: compile(pattern), handler });
    return this;
  }

  get(pattern, handler) { return this.on("GET", pattern, handler); }
  post(pattern, handler) { return this.on("POST", pattern, handler); }
  put(pattern, handler) { return this.on("PUT", pattern, handler); }
  patch(pattern, handler) { return this.on("PATCH", pattern, handler); }
  delete(pattern, handler) { return this.on("DELETE", pattern, handler); }
  all(pattern, handler) { return this.on("*", pattern, handler); }

  // Answers one request record: the handler's return value (a response, or any other value
  // as JSON with 200), HttpError and NimbusError as their status, anything else as 500.
  handle(record, ctx) {
    const segments = segmentsOf(record, this.base);
    if (!segments) return json(404, { error: `no route for ${record.method} ${record.path}` });
    let pathMatched = false;
    for (const route of this.routes) {
      const params = route.match(segments);
      if (!params) continue;
      pathMatched = true;
      if (route.method !== "*" && route.method !== record.method) continue;
      try {
        const result = route.handler(new Request(record, ctx, params));
        if (typeof result?.then === "function") {
          throw new Error(`the handler of ${route.method} ${record.path} returned a promise: nimbus calls are synchronous, so write handlers without async`);
        }
        return isResponse(result) ? result : json(200, result ?? null);
      } catch (error) {
        return failure(error);
      }
    }
    return pathMatched
      ? json(405, { error: "method not allowed" })
      : json(404, { error: `no route for ${record.method} ${record.path}` });
  }

  // The object a component exports as `httpHandler`.
  handler() {
    return { handle: (record, ctx) => this.handle(record, ctx) };
  }
}

function isResponse(value) {
  return value && typeof value.status === "number" && value.body instanceof Uint8Array;
}

// The answer for an exception thrown by a handler.
export function failure(error) {
  if (error instanceof HttpError || error instanceof NimbusError) {
    return json(error.status, { error: error.message });
  }
  console.error(error?.stack ?? String(error));
  return json(500, { error: "internal error" });
}
