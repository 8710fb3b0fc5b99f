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

use nimbus_sdk::http::{HttpError, Params, Request, Response, Router};
use nimbus_sdk::kv::Store;
use nimbus_sdk::objects::Bucket;
use nimbus_sdk::queue;
use serde_json::{Map, Value, json};

const STORE: &str = "todos";
const BUCKET: &str = "attachments";
const MAX_TITLE: usize = 500;

fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

fn todo_key(user: &str, id: &str) -> String {
    format!("todo:{user}:{id}")
}

fn body_object(req: &Request) -> Result<Map<String, Value>, HttpError> {
    match req.json::<Value>() {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(HttpError::bad_request("the body must be a JSON object")),
    }
}

fn title_of(map: &Map<String, Value>) -> Result<Option<String>, HttpError> {
    match map.get("title") {
        None => Ok(None),
        Some(Value::String(title)) if !title.trim().is_empty() && title.len() <= MAX_TITLE => {
            Ok(Some(title.trim().to_string()))
        }
        Some(_) => Err(HttpError::bad_request(format!(
            "title must be 1 to {MAX_TITLE} characters"
        ))),
    }
}

fn load(store: &Store, user: &str, id: &str) -> Result<Value, HttpError> {
    store
        .get_json(&todo_key(user, id))?
        .ok_or_else(|| HttpError::not_found(format!("no todo {id}")))
}

/// The signed-in user, the store, and the todo `:id` (which must exist).
fn todo_of(req: &Request, params: &Params) -> Result<(String, Store, Value), HttpError> {
    let user = req.identity()?.user_id.clone();
    let store = Store::open(STORE)?;
    let todo = load(&store, &user, &params["id"])?;
    Ok((user, store, todo))
}

fn list(req: &Request, _: &Params) -> Result<Response, HttpError> {
    let user = &req.identity()?.user_id;
    let todos: Vec<Value> = Store::open(STORE)?
        .entries(&format!("todo:{user}:"))?
        .iter()
        .filter_map(|(_, bytes)| serde_json::from_slice(bytes).ok())
        .collect();
    Response::json(200, &todos)
}

fn create(req: &Request, _: &Params) -> Result<Response, HttpError> {
    let user = &req.identity()?.user_id;
    let title =
        title_of(&body_object(req)?)?.ok_or_else(|| HttpError::bad_request("title is required"))?;
    let store = Store::open(STORE)?;
    let id = store.increment(&format!("next:{user}"), 1)?.to_string();
    let todo = json!({ "id": id, "title": title, "done": false, "createdAt": now() });
    store.set_json(&todo_key(user, &id), &todo)?;
    Response::json(201, &todo)
}

fn update(req: &Request, params: &Params) -> Result<Response, HttpError> {
    let body = body_object(req)?;
    let (user, store, mut todo) = todo_of(req, params)?;
    if let Some(title) = title_of(&body)? {
        todo["title"] = title.into();
    }
    match body.get("done") {
        None => {}
        Some(Value::Bool(done)) => todo["done"] = (*done).into(),
        Some(_) => return Err(HttpError::bad_request("done must be true or false")),
    }
    store.set_json(&todo_key(&user, &params["id"]), &todo)?;
    Response::json(200, &todo)
}

fn delete(req: &Request, params: &Params) -> Result<Response, HttpError> {
    let (user, store, _) = todo_of(req, params)?;
    let id = &params["id"];
    let bucket = Bucket::open(BUCKET)?;
    for object in bucket.objects(&format!("{user}/{id}/"))? {
        bucket.delete(&object.key)?;
    }
    store.delete(&todo_key(&user, id))?;
    Response::json(200, &json!({ "deleted": id }))
}

fn remind(req: &Request, params: &Params) -> Result<Response, HttpError> {
    let body = body_object(req)?;
    let delay = match body.get("inSeconds") {
        None => 0,
        Some(value) => value
            .as_u64()
            .filter(|seconds| *seconds <= 12 * 3600)
            .ok_or_else(|| HttpError::bad_request("inSeconds must be 0 to 43200"))?,
    };
    let (user, _, todo) = todo_of(req, params)?;
    let reminder = json!({ "user": user, "todo": params["id"], "title": todo["title"] });
    let message = queue::publish_json(
        "reminders",
        &reminder,
        Some(std::time::Duration::from_secs(delay)),
        None,
    )?;
    Response::json(202, &json!({ "reminder": message, "inSeconds": delay }))
}

fn outbox(req: &Request, _: &Params) -> Result<Response, HttpError> {
    let user = &req.identity()?.user_id;
    let page = Store::open(STORE)?.list_entries(&format!("outbox:{user}:"), None, 100)?;
    let mails: Vec<Value> = page
        .entries
        .iter()
        .filter_map(|(_, bytes)| serde_json::from_slice(bytes).ok())
        .collect();
    Response::json(200, &mails)
}

/// The todo's bucket and the key prefix of its attachments.
fn attachments_of(req: &Request, params: &Params) -> Result<(Bucket, String), HttpError> {
    let (user, _, _) = todo_of(req, params)?;
    Ok((Bucket::open(BUCKET)?, format!("{user}/{}/", params["id"])))
}

fn list_attachments(req: &Request, params: &Params) -> Result<Response, HttpError> {
    let (bucket, prefix) = attachments_of(req, params)?;
    let page = bucket.list(&prefix, Some("/"), None)?;
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
    Response::json(200, &files)
}

fn attach(req: &Request, params: &Params) -> Result<Response, HttpError> {
    let (bucket, prefix) = attachments_of(req, params)?;
    let name = &params["name"];
    let content_type = req
        .header("content-type")
        .unwrap_or("application/octet-stream");
    let info = bucket.put(&format!("{prefix}{name}"), &req.body, content_type)?;
    Response::json(
        201,
        &json!({ "name": name, "size": info.size, "etag": info.etag }),
    )
}

fn download(req: &Request, params: &Params) -> Result<Response, HttpError> {
    let (bucket, prefix) = attachments_of(req, params)?;
    let name = &params["name"];
    let key = format!("{prefix}{name}");
    match (bucket.head(&key)?, bucket.get(&key)?) {
        (Some(info), Some(data)) => Ok(Response::new(200)
            .header("content-type", info.content_type)
            .body(data)),
        _ => Err(HttpError::not_found(format!("no attachment {name}"))),
    }
}

fn detach(req: &Request, params: &Params) -> Result<Response, HttpError> {
    let (bucket, prefix) = attachments_of(req, params)?;
    let name = &params["name"];
    if !bucket.delete(&format!("{prefix}{name}"))? {
        return Err(HttpError::not_found(format!("no attachment {name}")));
    }
    Response::json(200, &json!({ "deleted": name }))
}

fn link(req: &Request, params: &Params) -> Result<Response, HttpError> {
    let (bucket, prefix) = attachments_of(req, params)?;
    let url = bucket.signed_url(&format!("{prefix}{}", params["name"]), "GET", 300)?;
    Response::json(200, &json!({ "url": url, "expiresIn": 300 }))
}

fn todos(req: Request) -> Result<Response, HttpError> {
    Router::new()
        .get("/", list)
        .post("/", create)
        .get("/outbox", outbox)
        .get("/:id", |req, params| {
            let (_, _, todo) = todo_of(req, params)?;
            Response::json(200, &todo)
        })
        .patch("/:id", update)
        .delete("/:id", delete)
        .post("/:id/remind", remind)
        .get("/:id/attachments", list_attachments)
        .put("/:id/attachments/:name", attach)
        .get("/:id/attachments/:name", download)
        .delete("/:id/attachments/:name", detach)
        .get("/:id/attachments/:name/link", link)
        .handle(&req)
}

nimbus_sdk::http_component!(todos);
