//! Honest answers for the parts of Supabase's API that nimbus does not offer, in the shape
//! each client expects, so that a Supabase app moving to nimbus reads what is missing instead
//! of an `undefined` error message or a bare 404:
//! - `/rest/v1/*` (PostgREST) that no app route claims: PostgREST's error shape
//!   (`code`, `message`, `details`, `hint`), as supabase-js' `PostgrestError` reads it;
//! - `/auth/v1/authorize` (OAuth sign-in, where `signInWithOAuth` sends the browser): GoTrue's
//!   error shape, or a page for a browser, naming the providers configured (none);
//! - `/realtime/v1/*` (the realtime websocket): a refused handshake that says why.

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// The answer for `path` when no app route matched it, if it belongs to a Supabase API nimbus
/// does not offer.
pub fn unclaimed(path: &str) -> Option<Response> {
    if let Some(rest) = under(path, "/rest/v1") {
        return Some(postgrest(rest));
    }
    under(path, "/realtime/v1").map(|_| realtime())
}

/// What follows `prefix` when `path` is `prefix` or below it.
fn under<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then(|| rest.trim_start_matches('/'))
}

fn postgrest(rest: &str) -> Response {
    let mut segments = rest.split('/');
    let name = segments.next().unwrap_or_default();
    let (code, message) = match (name, segments.next()) {
        ("rpc", Some(function)) if !function.is_empty() => (
            "PGRST202",
            format!("nimbus has no SQL database, so there is no function `{function}` to call"),
        ),
        ("rpc", _) => (
            "PGRST202",
            "nimbus has no SQL database, so there are no functions to call".to_string(),
        ),
        ("", _) => (
            "PGRST205",
            "nimbus has no SQL database: /rest/v1 (PostgREST) is not offered".to_string(),
        ),
        _ => (
            "PGRST205",
            format!("nimbus has no SQL database, so there is no table `{name}`"),
        ),
    };
    let body = serde_json::json!({
        "code": code,
        "message": message,
        "details": "nimbus keeps data in key-value stores and buckets that components reach through their grants; it serves no PostgREST API",
        "hint": "keep the rows in a key-value store (key_value = [\"STORE\"]) and serve them from a component; a route under /rest/v1/... in nimbus.toml takes these paths over",
    });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

fn realtime() -> Response {
    // A websocket client sees only the handshake's status; the body is for people.
    let body = serde_json::json!({
        "message": "nimbus has no realtime server: /realtime/v1 (channels, presence, database changes) is not offered",
        "hint": "poll a component route, or have a component publish to a queue that another consumes",
    });
    (StatusCode::NOT_IMPLEMENTED, Json(body)).into_response()
}

/// `GET /auth/v1/authorize`: no OAuth provider is configured, for a browser as a page, for
/// anything else in GoTrue's error shape.
pub async fn authorize(headers: HeaderMap) -> Response {
    let provider_hint = "nimbus has no OAuth providers configured (none are offered yet); sign in with email and password (POST /auth/v1/token?grant_type=password)";
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        let page = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign-in provider not available</title></head>\
             <body><h1>Sign-in provider not available</h1><p>{provider_hint}.</p>\
             <p>Configured providers: none.</p></body></html>"
        );
        return (StatusCode::BAD_REQUEST, Html(page)).into_response();
    }
    let body = serde_json::json!({
        "code": 400,
        "error_code": "validation_failed",
        "msg": format!("Unsupported provider: {provider_hint}"),
        "providers": [],
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_apis_and_what_is_below_them_are_claimed() {
        assert!(unclaimed("/rest/v1/todos").is_some());
        assert!(unclaimed("/rest/v1").is_some());
        assert!(unclaimed("/realtime/v1/websocket").is_some());
        assert!(unclaimed("/rest/v10/todos").is_none());
        assert!(unclaimed("/restful").is_none());
        assert!(unclaimed("/todos").is_none());
    }
}
