//! `nimbus invoke`: a local driver, like `sam local invoke`. Reads a request fixture, hands it to the invoker
//! as an HTTP trigger (no server, no socket), and renders what the component produced as JSON,
//! after the same checks the gateway applies.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use axum::body::Body;
use serde::Deserialize;

use crate::gateway::{ApiError, invalid_response, request_id, to_response};
use crate::host::Host;
use crate::routes::RouteMatch;
use crate::runtime::{MAX_REQUEST_BODY, Meta, Trigger};

/// A request fixture.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    #[serde(default = "default_method")]
    method: String,
    #[serde(default = "default_path")]
    path: String,
    #[serde(default)]
    query: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// A JSON value is sent as its JSON text; a string as-is.
    #[serde(default)]
    body: Option<serde_json::Value>,
}

fn default_method() -> String {
    "GET".into()
}

fn default_path() -> String {
    "/".into()
}

/// Invokes `component` of `host`'s app with the fixture at `fixture` and returns the response
/// as pretty JSON `{status, headers, body}`.
pub async fn invoke(host: &Host, component: &str, fixture: &Path) -> anyhow::Result<String> {
    let app = host.current();
    let text = std::fs::read_to_string(fixture)
        .with_context(|| format!("cannot read {}", fixture.display()))?;
    let fixture: Fixture = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a request fixture", fixture.display()))?;
    let (index, loaded) = app
        .components
        .iter()
        .enumerate()
        .find(|(_, c)| c.spec.name == component)
        .with_context(|| {
            let names: Vec<&str> = app
                .components
                .iter()
                .map(|c| c.spec.name.as_str())
                .collect();
            format!(
                "no component `{component}`; the app has: {}",
                names.join(", ")
            )
        })?;
    let (params, route) = match app.router.route(&fixture.method, &fixture.path) {
        RouteMatch::Found { target, params } if target.component == index => {
            (params, Some(target.route))
        }
        _ => (Vec::new(), None),
    };
    let uri = if fixture.query.is_empty() {
        fixture.path.clone()
    } else {
        format!("{}?{}", fixture.path, fixture.query)
    };
    let body = match fixture.body {
        None => Vec::new(),
        Some(serde_json::Value::String(text)) => text.into_bytes(),
        Some(value) => value.to_string().into_bytes(),
    };
    let mut request = http::Request::builder()
        .method(fixture.method.as_str())
        .uri(uri)
        .header("host", "localhost");
    for (name, value) in &fixture.headers {
        request = request.header(name, value);
    }
    let request = request
        .body(Body::from(body))
        .context("the fixture is not a valid HTTP request")?;
    let request_id = request_id::next();
    let trigger = Trigger::Http {
        request,
        params,
        route,
    };
    let response = match host
        .runtime
        .invoke(loaded, trigger, Meta::new(request_id.clone()))
        .await
    {
        Ok(output) => match to_response(output) {
            Ok(response) => response,
            Err(why) => invalid_response(loaded, &why, &request_id),
        },
        Err(error) => {
            axum::response::IntoResponse::into_response(ApiError::from_invoke(error, &request_id))
        }
    };
    if let Some(detail) = response
        .extensions()
        .get::<crate::gateway::edge::ErrorDetail>()
    {
        tracing::error!(request_id, "{}", detail.0);
    }
    let status = response.status().as_u16();
    let headers: BTreeMap<String, String> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = axum::body::to_bytes(response.into_body(), MAX_REQUEST_BODY)
        .await
        .context("cannot read the response body")?;
    let body = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(json) => json,
        Err(_) => serde_json::Value::String(String::from_utf8_lossy(&body).into_owned()),
    };
    Ok(serde_json::to_string_pretty(&serde_json::json!({
        "status": status,
        "headers": headers,
        "body": body,
    }))?)
}
