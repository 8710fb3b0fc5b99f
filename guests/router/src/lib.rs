//! A router: one handler serving several paths with only standard parsing.
//! `GET /health`, `POST /echo` (answers the JSON body it was sent), anything else a JSON 404.

wit_bindgen::generate!({
    world: "http-app",
    path: "../../wit",
    generate_all,
});

use exports::nimbus::platform::http_handler::{Guest, Request, Response};
use nimbus::platform::types::Context;

struct Router;

fn json(status: u16, body: serde_json::Value) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

impl Guest for Router {
    fn handle(req: Request, ctx: Context) -> Response {
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/health") => json(200, serde_json::json!({ "ok": true })),
            ("POST", "/echo") => match serde_json::from_slice::<serde_json::Value>(&req.body) {
                Ok(received) => json(
                    200,
                    serde_json::json!({ "received": received, "requestId": ctx.request_id }),
                ),
                Err(e) => json(
                    400,
                    serde_json::json!({ "error": format!("body is not JSON: {e}") }),
                ),
            },
            _ => json(
                404,
                serde_json::json!({ "error": "not found", "path": req.path }),
            ),
        }
    }
}

export!(Router);
