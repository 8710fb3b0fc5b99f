// The todo example in JavaScript: the Rust one's API (guests/todo) without reminders,
// mounted where the manifest routes it (/js/todos in the example app). Todos live in a
// key-value store, attachments in an `owner` bucket under `{user-id}/{todo-id}/`; every route
// requires a signed-in user.
import { Router, HttpError, json, response } from "../../sdk/js/http.js";
import * as kv from "../../sdk/js/kv.js";
import * as objects from "../../sdk/js/objects.js";
import * as config from "../../sdk/js/config.js";

const MAX_TITLE = 500;

// The store and bucket come from the component's `config` (read per request: top-level code
// runs at build time, where no platform call can be made).
const todos = () => kv.open(config.get("store") ?? "todos");
const files = () => objects.open(config.get("bucket") ?? "attachments");

const router = new Router();

function userOf(req) {
  if (!req.identity) throw new HttpError(401, "sign in first: POST /auth/v1/token?grant_type=password");
  return req.identity.userId;
}

function titleOf(body, required) {
  const title = body.title;
  if (title === undefined && !required) return undefined;
  if (typeof title !== "string" || !title.trim() || title.length > MAX_TITLE) {
    throw new HttpError(400, required && title === undefined ? "title is required" : `title must be 1 to ${MAX_TITLE} characters`);
  }
  return title.trim();
}

function objectBody(req) {
  const body = req.json();
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, "the body must be a JSON object");
  }
  return body;
}

const todoKey = (user, id) => `todo:${user}:${id}`;

function load(store, user, id) {
  const todo = store.getJson(todoKey(user, id));
  if (todo === undefined) throw new HttpError(404, `no todo ${id}`);
  return todo;
}

router.get("/", (req) => {
  const user = userOf(req);
  const store = todos();
  return [...store.entries(`todo:${user}:`)].map(([, value]) => JSON.parse(new TextDecoder().decode(value)));
});

router.post("/", (req) => {
  const user = userOf(req);
  const title = titleOf(objectBody(req), true);
  const store = todos();
  const id = String(store.increment(`next:${user}`));
  const todo = { id, title, done: false, createdAt: new Date().toISOString() };
  store.setJson(todoKey(user, id), todo);
  return json(201, todo);
});

router.get("/:id", (req) => load(todos(), userOf(req), req.params.id));

router.patch("/:id", (req) => {
  const user = userOf(req);
  const body = objectBody(req);
  const store = todos();
  const todo = load(store, user, req.params.id);
  const title = titleOf(body, false);
  if (title !== undefined) todo.title = title;
  if (body.done !== undefined) {
    if (typeof body.done !== "boolean") throw new HttpError(400, "done must be true or false");
    todo.done = body.done;
  }
  store.setJson(todoKey(user, req.params.id), todo);
  return todo;
});

router.delete("/:id", (req) => {
  const user = userOf(req);
  const { id } = req.params;
  const store = todos();
  load(store, user, id);
  const bucket = files();
  for (const object of [...bucket.objects(`${user}/${id}/`)]) bucket.delete(object.key);
  store.delete(todoKey(user, id));
  return { deleted: id };
});

// The todo's attachments: checks the todo exists and answers its bucket and key prefix.
function attachments(req) {
  const user = userOf(req);
  load(todos(), user, req.params.id);
  return { bucket: files(), prefix: `${user}/${req.params.id}/` };
}

router.get("/:id/attachments", (req) => {
  const { bucket, prefix } = attachments(req);
  return bucket.list(prefix, { delimiter: "/" }).objects.map((o) => ({
    name: o.key.slice(prefix.length),
    size: o.size,
    contentType: o.contentType,
    etag: o.etag,
  }));
});

router.put("/:id/attachments/:name", (req) => {
  const { bucket, prefix } = attachments(req);
  const { name } = req.params;
  const info = bucket.put(prefix + name, req.body, req.header("content-type") ?? "application/octet-stream");
  return json(201, { name, size: info.size, etag: info.etag });
});

router.get("/:id/attachments/:name", (req) => {
  const { bucket, prefix } = attachments(req);
  const key = prefix + req.params.name;
  const info = bucket.head(key);
  const body = bucket.get(key);
  if (!info || !body) throw new HttpError(404, `no attachment ${req.params.name}`);
  return response(200, body, { "content-type": info.contentType });
});

router.delete("/:id/attachments/:name", (req) => {
  const { bucket, prefix } = attachments(req);
  if (!bucket.delete(prefix + req.params.name)) throw new HttpError(404, `no attachment ${req.params.name}`);
  return { deleted: req.params.name };
});

router.get("/:id/attachments/:name/link", (req) => {
  const { bucket, prefix } = attachments(req);
  return { url: bucket.signedUrl(prefix + req.params.name, { ttlSeconds: 300 }), expiresIn: 300 };
});

export const httpHandler = router.handler();
