//! A test guest for the `auth` and `auth-admin` interfaces:
//! `GET /users/verify?TOKEN`, `GET /users/get?ID`, `POST /users/create` (body `email password`),
//! `POST /users/role?ID` (body = role), `DELETE /users/delete?ID`.

wit_bindgen::generate!({
    world: "http-app",
    path: "../../../wit",
    generate_all,
});

use exports::nimbus::platform::http_handler::{Guest, Request, Response};
use nimbus::platform::types::{Context, Error};
use nimbus::platform::{auth, auth_admin};
use serde_json::{Value, json};

struct Users;

fn respond(status: u16, body: Value) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn failure(error: Error) -> Response {
    let (status, message) = match error {
        Error::AccessDenied(why) => (403, format!("access denied: {why}")),
        Error::NotFound => (404, "not found".to_string()),
        Error::Invalid(why) => (400, why),
        Error::Unavailable(why) => (503, why),
        Error::Other(why) => (500, why),
    };
    respond(status, json!({ "error": message }))
}

fn user_json(user: &auth::User) -> Value {
    json!({ "id": user.id, "email": user.email, "role": user.role })
}

impl Guest for Users {
    fn handle(req: Request, _ctx: Context) -> Response {
        let action = req.path.rsplit('/').next().unwrap_or_default();
        let body = String::from_utf8_lossy(&req.body).to_string();
        let result = match (req.method.as_str(), action) {
            ("GET", "verify") => auth::verify_token(&req.query)
                .map(|who| json!({ "userId": who.user_id, "email": who.email, "role": who.role })),
            ("GET", "get") => {
                auth::get_user(&req.query).map(|user| user.as_ref().map_or(Value::Null, user_json))
            }
            ("POST", "create") => {
                let (email, password) = body.split_once(' ').unwrap_or((body.as_str(), ""));
                auth_admin::create_user(email, password, None).map(|user| user_json(&user))
            }
            ("POST", "role") => {
                auth_admin::set_role(&req.query, body.trim()).map(|user| user_json(&user))
            }
            ("DELETE", "delete") => auth_admin::delete_user(&req.query).map(|()| json!({})),
            _ => return respond(404, json!({ "error": "no such action" })),
        };
        match result {
            Ok(value) => respond(200, value),
            Err(error) => failure(error),
        }
    }
}

export!(Users);
