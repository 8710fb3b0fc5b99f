//! Counts its requests in the key-value store `counter` (the key is the request path), showing
//! state kept outside the instance: every request runs in a fresh instance.

wit_bindgen::generate!({
    world: "http-app",
    path: "../../wit",
    generate_all,
});

use exports::nimbus::platform::http_handler::{Guest, Request, Response};
use nimbus::platform::key_value::Store;
use nimbus::platform::types::{Context, Error};

struct Counter;

fn json(status: u16, body: serde_json::Value) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn describe(error: &Error) -> (u16, String) {
    match error {
        Error::AccessDenied(why) => (403, format!("access denied: {why}")),
        Error::NotFound => (404, "not found".into()),
        Error::Invalid(why) => (400, format!("invalid: {why}")),
        Error::Unavailable(why) => (503, format!("unavailable: {why}")),
        Error::Other(why) => (500, why.clone()),
    }
}

fn count(path: &str) -> Result<i64, Error> {
    let store = Store::open("counter")?;
    store.increment(&format!("hits:{path}"), 1)
}

impl Guest for Counter {
    fn handle(req: Request, _ctx: Context) -> Response {
        match count(&req.path) {
            Ok(count) => json(200, serde_json::json!({ "path": req.path, "count": count })),
            Err(error) => {
                let (status, message) = describe(&error);
                json(status, serde_json::json!({ "error": message }))
            }
        }
    }
}

export!(Counter);
