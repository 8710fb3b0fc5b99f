//! Counts its requests in the key-value store `counter` (the key is the request path), showing
//! state kept outside the instance: every request runs in a fresh instance.

use nimbus_sdk::http::{HttpError, Request, Response};
use nimbus_sdk::kv::Store;

fn count(req: Request) -> Result<Response, HttpError> {
    let count = Store::open("counter")?.increment(&format!("hits:{}", req.path), 1)?;
    Response::json(
        200,
        &serde_json::json!({ "path": req.path, "count": count }),
    )
}

nimbus_sdk::http_component!(count);
