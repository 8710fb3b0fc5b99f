"""The todo example in Python: the Rust one's API (guests/todo) without reminders, mounted
where the manifest routes it (/py/todos in the example app). Todos live in a key-value store,
attachments in an ``owner`` bucket under ``{user-id}/{todo-id}/``; every route requires a
signed-in user."""

import json
from datetime import datetime, timezone

from nimbus import config, kv, objects
from nimbus.http import HttpError, Router, response
from nimbus.http import json as json_response

MAX_TITLE = 500

router = Router()


def todos():
    return kv.open(config.get("store") or "todos")


def files():
    return objects.open(config.get("bucket") or "attachments")


def user_of(req) -> str:
    if req.identity is None:
        raise HttpError(401, "sign in first: POST /auth/v1/token?grant_type=password")
    return req.identity.user_id


def object_body(req) -> dict:
    body = req.json()
    if not isinstance(body, dict):
        raise HttpError(400, "the body must be a JSON object")
    return body


def title_of(body: dict, required: bool):
    title = body.get("title")
    if title is None and not required:
        return None
    if title is None:
        raise HttpError(400, "title is required")
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
        raise HttpError(400, f"title must be 1 to {MAX_TITLE} characters")
    return title.strip()


def todo_key(user: str, todo_id: str) -> str:
    return f"todo:{user}:{todo_id}"


def load(store, user: str, todo_id: str) -> dict:
    todo = store.get_json(todo_key(user, todo_id))
    if todo is None:
        raise HttpError(404, f"no todo {todo_id}")
    return todo


@router.get("/")
def list_todos(req):
    user = user_of(req)
    return [json.loads(value) for _, value in todos().entries(f"todo:{user}:")]


@router.post("/")
def create(req):
    user = user_of(req)
    title = title_of(object_body(req), True)
    store = todos()
    todo_id = str(store.increment(f"next:{user}"))
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    todo = {"id": todo_id, "title": title, "done": False, "createdAt": now}
    store.set_json(todo_key(user, todo_id), todo)
    return json_response(201, todo)


@router.get("/:id")
def read(req):
    return load(todos(), user_of(req), req.params["id"])


@router.patch("/:id")
def update(req):
    user = user_of(req)
    body = object_body(req)
    store = todos()
    todo = load(store, user, req.params["id"])
    title = title_of(body, False)
    if title is not None:
        todo["title"] = title
    if "done" in body:
        if not isinstance(body["done"], bool):
            raise HttpError(400, "done must be true or false")
        todo["done"] = body["done"]
    store.set_json(todo_key(user, req.params["id"]), todo)
    return todo


@router.delete("/:id")
def delete(req):
    user = user_of(req)
    todo_id = req.params["id"]
    store = todos()
    load(store, user, todo_id)
    bucket = files()
    for info in list(bucket.objects(f"{user}/{todo_id}/")):
        bucket.delete(info.key)
    store.delete(todo_key(user, todo_id))
    return {"deleted": todo_id}


def attachments(req):
    """The todo's bucket and key prefix, once the todo is known to exist."""
    user = user_of(req)
    load(todos(), user, req.params["id"])
    return files(), f"{user}/{req.params['id']}/"


@router.get("/:id/attachments")
def list_attachments(req):
    bucket, prefix = attachments(req)
    return [
        {
            "name": o.key[len(prefix) :],
            "size": o.size,
            "contentType": o.content_type,
            "etag": o.etag,
        }
        for o in bucket.list(prefix, delimiter="/").objects
    ]


@router.put("/:id/attachments/:name")
def attach(req):
    bucket, prefix = attachments(req)
    name = req.params["name"]
    content_type = req.header("content-type") or "application/octet-stream"
    info = bucket.put(prefix + name, req.body, content_type)
    return json_response(201, {"name": name, "size": info.size, "etag": info.etag})


@router.get("/:id/attachments/:name")
def download(req):
    bucket, prefix = attachments(req)
    key = prefix + req.params["name"]
    info = bucket.head(key)
    body = bucket.get(key)
    if info is None or body is None:
        raise HttpError(404, f"no attachment {req.params['name']}")
    return response(200, body, {"content-type": info.content_type})


@router.delete("/:id/attachments/:name")
def detach(req):
    bucket, prefix = attachments(req)
    if not bucket.delete(prefix + req.params["name"]):
        raise HttpError(404, f"no attachment {req.params['name']}")
    return {"deleted": req.params["name"]}


@router.get("/:id/attachments/:name/link")
def link(req):
    bucket, prefix = attachments(req)
    return {"url": bucket.signed_url(prefix + req.params["name"], ttl_seconds=300), "expiresIn": 300}


HttpHandler = router.handler()
