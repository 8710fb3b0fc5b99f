//! The todo example: per-user todos in the key-value store `todos`, file attachments in the
//! `owner` bucket `attachments` (under `{user-id}/{todo-id}/`). Every route requires a signed-in
//! user; the host verifies the bearer token and passes who it is in `context.identity`.
//!
//! ```text
//! GET    /todos                                  list
//! POST   /todos                {"title"}         create
//! GET    /todos/:id                              read
//! PATCH  /todos/:id            {"title","done"}  update
//! DELETE /todos/:id                              delete, with its attachments
//! GET    /todos/:id/attachments                  list attachments
//! PUT    /todos/:id/attachments/:name            upload (body = file, Content-Type kept)
//! GET    /todos/:id/attachments/:name            download
//! DELETE /todos/:id/attachments/:name            delete
//! GET    /todos/:id/attachments/:name/link       a signed URL valid for 5 minutes
//! POST   /todos/:id/remind     {"inSeconds"}     a reminder in the outbox after that long
//! GET    /todos/outbox                           the reminders sent so far
//! ```
//!
//! Reminders go through the queue `reminders`, which `todo-events` consumes: it writes each
//! to the store's outbox (a real app would send mail there), and a nightly schedule clears
//! old ones. Images attached to a todo get a thumbnail in the bucket `thumbnails`.

wit_bindgen::generate!({
    world: "http-app",
    path: "../../wit",
    generate_all,
});

use exports::nimbus::platform::http_handler::{Guest, Request, Response};
use nimbus::platform::key_value::Store;
use nimbus::platform::object_store::Bucket;
use nimbus::platform::queue::{self, PublishOptions};
use nimbus::platform::types::{Context, Error};
use serde_json::{Value, json};

const STORE: &str = "todos";
const BUCKET: &str = "attachments";
const MAX_TITLE: usize = 500;

struct Todo;

fn respond(status: u16, body: Value) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn fail(status: u16, message: impl Into<String>) -> Response {
    respond(status, json!({ "error": message.into() }))
}

fn platform_failure(error: Error) -> Response {
    match error {
        Error::AccessDenied(why) => fail(403, format!("access denied: {why}")),
        Error::NotFound => fail(404, "not found"),
        Error::Invalid(why) => fail(400, why),
        Error::Unavailable(why) => fail(503, why),
        Error::Other(why) => fail(500, why),
    }
}

fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

fn todo_key(user: &str, id: &str) -> String {
    format!("todo:{user}:{id}")
}

fn body_json(req: &Request) -> Result<serde_json::Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(fail(400, "the body must be a JSON object")),
    }
}

fn title_of(map: &serde_json::Map<String, Value>) -> Result<Option<String>, Response> {
    match map.get("title") {
        None => Ok(None),
        Some(Value::String(title)) if !title.trim().is_empty() && title.len() <= MAX_TITLE => {
            Ok(Some(title.trim().to_string()))
        }
        Some(_) => Err(fail(
            400,
            format!("title must be 1 to {MAX_TITLE} characters"),
        )),
    }
}

fn load(store: &Store, user: &str, id: &str) -> Result<Value, Response> {
    match store.get(&todo_key(user, id)).map_err(platform_failure)? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|_| fail(500, "corrupt todo")),
        None => Err(fail(404, format!("no todo {id}"))),
    }
}

fn save(store: &Store, user: &str, id: &str, todo: &Value) -> Result<(), Response> {
    store
        .set(&todo_key(user, id), todo.to_string().as_bytes())
        .map_err(platform_failure)
}

fn list_todos(store: &Store, user: &str) -> Result<Vec<Value>, Response> {
    let prefix = format!("todo:{user}:");
    let mut todos = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_keys(&prefix, cursor.as_deref())
            .map_err(platform_failure)?;
        for key in &page.keys {
            if let Some(bytes) = store.get(key).map_err(platform_failure)?
                && let Ok(todo) = serde_json::from_slice(&bytes)
            {
                todos.push(todo);
            }
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(todos),
        }
    }
}

fn attachment_prefix(user: &str, id: &str) -> String {
    format!("{user}/{id}/")
}

fn attachments(req: &Request, user: &str, id: &str, rest: &[&str]) -> Result<Response, Response> {
    let store = Store::open(STORE).map_err(platform_failure)?;
    load(&store, user, id)?;
    let bucket = Bucket::open(BUCKET).map_err(platform_failure)?;
    let prefix = attachment_prefix(user, id);
    match (req.method.as_str(), rest) {
        ("GET", []) => {
            let page = bucket
                .list(&prefix, Some("/"), None)
                .map_err(platform_failure)?;
            let files: Vec<Value> = page
                .objects
                .iter()
                .map(|o| {
                    json!({
                        "name": &o.key[prefix.len()..],
                        "size": o.size,
                        "contentType": o.content_type,
                        "etag": o.etag,
                    })
                })
                .collect();
            Ok(respond(200, json!(files)))
        }
        ("PUT", [name]) => {
            let content_type = req
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map_or("application/octet-stream", |(_, v)| v.as_str());
            let info = bucket
                .put(&format!("{prefix}{name}"), &req.body, content_type)
                .map_err(platform_failure)?;
            Ok(respond(
                201,
                json!({ "name": name, "size": info.size, "etag": info.etag }),
            ))
        }
        ("GET", [name]) => {
            let key = format!("{prefix}{name}");
            let info = bucket.head(&key).map_err(platform_failure)?;
            let data = bucket.get(&key).map_err(platform_failure)?;
            match (info, data) {
                (Some(info), Some(data)) => Ok(Response {
                    status: 200,
                    headers: vec![("content-type".into(), info.content_type)],
                    body: data,
                }),
                _ => Err(fail(404, format!("no attachment {name}"))),
            }
        }
        ("DELETE", [name]) => {
            if bucket
                .delete(&format!("{prefix}{name}"))
                .map_err(platform_failure)?
            {
                Ok(respond(200, json!({ "deleted": name })))
            } else {
                Err(fail(404, format!("no attachment {name}")))
            }
        }
        ("GET", [name, "link"]) => {
            let url = bucket
                .signed_url(&format!("{prefix}{name}"), "GET", 300)
                .map_err(platform_failure)?;
            Ok(respond(200, json!({ "url": url, "expiresIn": 300 })))
        }
        _ => Err(fail(405, "method not allowed")),
    }
}

fn route(req: &Request, user: &str) -> Result<Response, Response> {
    let rest = req.path.trim_start_matches("/todos").trim_matches('/');
    let segments: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", []) => {
            let store = Store::open(STORE).map_err(platform_failure)?;
            Ok(respond(200, json!(list_todos(&store, user)?)))
        }
        ("POST", []) => {
            let body = body_json(req)?;
            let title = title_of(&body)?.ok_or_else(|| fail(400, "title is required"))?;
            let store = Store::open(STORE).map_err(platform_failure)?;
            let id = store
                .increment(&format!("next:{user}"), 1)
                .map_err(platform_failure)?
                .to_string();
            let todo = json!({ "id": id, "title": title, "done": false, "createdAt": now() });
            save(&store, user, &id, &todo)?;
            Ok(respond(201, todo))
        }
        ("GET", ["outbox"]) => {
            let store = Store::open(STORE).map_err(platform_failure)?;
            let page = store
                .list_entries(&format!("outbox:{user}:"), None, 100)
                .map_err(platform_failure)?;
            let mails: Vec<Value> = page
                .entries
                .iter()
                .filter_map(|(_, bytes)| serde_json::from_slice(bytes).ok())
                .collect();
            Ok(respond(200, json!(mails)))
        }
        ("GET", [id]) => {
            let store = Store::open(STORE).map_err(platform_failure)?;
            Ok(respond(200, load(&store, user, id)?))
        }
        ("PATCH", [id]) => {
            let body = body_json(req)?;
            let store = Store::open(STORE).map_err(platform_failure)?;
            let mut todo = load(&store, user, id)?;
            if let Some(title) = title_of(&body)? {
                todo["title"] = title.into();
            }
            match body.get("done") {
                None => {}
                Some(Value::Bool(done)) => todo["done"] = (*done).into(),
                Some(_) => return Err(fail(400, "done must be true or false")),
            }
            save(&store, user, id, &todo)?;
            Ok(respond(200, todo))
        }
        ("DELETE", [id]) => {
            let store = Store::open(STORE).map_err(platform_failure)?;
            load(&store, user, id)?;
            let bucket = Bucket::open(BUCKET).map_err(platform_failure)?;
            let prefix = attachment_prefix(user, id);
            loop {
                let page = bucket.list(&prefix, None, None).map_err(platform_failure)?;
                if page.objects.is_empty() {
                    break;
                }
                for object in &page.objects {
                    bucket.delete(&object.key).map_err(platform_failure)?;
                }
            }
            store
                .delete(&todo_key(user, id))
                .map_err(platform_failure)?;
            Ok(respond(200, json!({ "deleted": id })))
        }
        ("POST", [id, "remind"]) => {
            let body = body_json(req)?;
            let delay = match body.get("inSeconds") {
                None => 0,
                Some(Value::Number(n)) if n.as_u64().is_some_and(|s| s <= 12 * 3600) => {
                    n.as_u64().unwrap_or(0)
                }
                Some(_) => return Err(fail(400, "inSeconds must be 0 to 43200")),
            };
            let store = Store::open(STORE).map_err(platform_failure)?;
            let todo = load(&store, user, id)?;
            let reminder = json!({ "user": user, "todo": id, "title": todo["title"] });
            let options = PublishOptions {
                delay_ms: Some(delay * 1000),
                dedupe_key: None,
            };
            let message = queue::publish("reminders", reminder.to_string().as_bytes(), &options)
                .map_err(platform_failure)?;
            Ok(respond(
                202,
                json!({ "reminder": message, "inSeconds": delay }),
            ))
        }
        (_, [id, "attachments", rest @ ..]) => attachments(req, user, id, rest),
        _ => Err(fail(
            404,
            format!("no route for {} {}", req.method, req.path),
        )),
    }
}

impl Guest for Todo {
    fn handle(req: Request, ctx: Context) -> Response {
        // The manifest requires auth on every route; this guards a misconfigured manifest.
        let Some(identity) = ctx.identity else {
            return fail(
                401,
                "sign in first: POST /auth/v1/token?grant_type=password",
            );
        };
        match route(&req, &identity.user_id) {
            Ok(response) | Err(response) => response,
        }
    }
}

export!(Todo);
