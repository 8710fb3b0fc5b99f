//! Hello, the primer's first function: `handler(event, context)` answering `{message, time}` as JSON.

use nimbus_sdk::http::{HttpError, Request, Response};

fn hello(_req: Request) -> Result<Response, HttpError> {
    let time = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    Response::json(
        200,
        &serde_json::json!({ "message": "Hello, Serverless!", "time": time }),
    )
}

nimbus_sdk::http_component!(hello);
