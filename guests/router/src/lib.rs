//! A router: one handler serving several paths with only standard parsing.
//! `GET /health`, `POST /echo` (answers the JSON body it was sent), anything else a JSON 404.

use nimbus_sdk::http::{HttpError, Request, Response, Router};
use serde_json::{Value, json};

fn route(req: Request) -> Result<Response, HttpError> {
    let answer = Router::new()
        .get("/health", |_, _| {
            Response::json(200, &json!({ "ok": true }))
        })
        .post("/echo", |req, _| {
            let received: Value = req.json()?;
            Response::json(
                200,
                &json!({ "received": received, "requestId": req.ctx.request_id }),
            )
        })
        .handle(&req);
    match answer {
        Err(error) if error.status == 404 => {
            Response::json(404, &json!({ "error": "not found", "path": req.path }))
        }
        other => other,
    }
}

nimbus_sdk::http_component!(route);
