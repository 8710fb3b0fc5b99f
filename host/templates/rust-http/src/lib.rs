//! {{name}}: a nimbus HTTP component in Rust, with the SDK in ./nimbus-sdk (kv, objects, auth,
//! queue and config clients besides the router; the component needs grants for what it uses).

use nimbus_sdk::http::{HttpError, Request, Response};

fn hello(req: Request) -> Result<Response, HttpError> {
    let name = req.query_param("name").unwrap_or_else(|| "world".into());
    Response::json(
        200,
        &serde_json::json!({ "message": format!("Hello, {name}!"), "component": req.ctx.component }),
    )
}

nimbus_sdk::http_component!(hello);
