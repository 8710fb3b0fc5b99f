//! Hello, the primer's first function: `handler(event, context)` answering `{message, time}` as JSON.

wit_bindgen::generate!({
    world: "http-app",
    path: "../../wit",
    generate_all,
});

use exports::nimbus::platform::http_handler::{Guest, Request, Response};
use nimbus::platform::types::Context;

struct Hello;

impl Guest for Hello {
    fn handle(_req: Request, _ctx: Context) -> Response {
        let time = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        let body = serde_json::json!({ "message": "Hello, Serverless!", "time": time });
        Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }
}

export!(Hello);
