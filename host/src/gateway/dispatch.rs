//! App routes: match the manifest's routes, invoke the component, turn its answer (or its
//! failure) into an HTTP response carrying `x-request-id`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, REQUEST_ID_HEADER};
use super::request_id;
use crate::app::App;
use crate::bindings::http_handler;
use crate::routes::RouteMatch;
use crate::runtime::invoke::{acquire_slot, call_handler, call_proxy};
use crate::runtime::{Entry, Invocation};

/// Largest request body passed to a record-based handler.
pub const MAX_REQUEST_BODY: usize = 16 << 20;

/// The fallback handler: every request that is not a built-in API goes to the app's routes.
pub async fn dispatch(State(app): State<Arc<App>>, request: Request<Body>) -> Response {
    let request_id = request_id::next();
    let routed = app
        .router
        .route(request.method().as_str(), request.uri().path());
    match routed {
        RouteMatch::Found { target, params } => {
            invoke_component(&app, target, request, params, request_id).await
        }
        RouteMatch::MethodNotAllowed(allowed) => {
            ApiError::method_not_allowed(&allowed, &request_id).into_response()
        }
        RouteMatch::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no route matches {} {}",
                request.method(),
                request.uri().path()
            ),
            &request_id,
        )
        .into_response(),
    }
}

/// Invokes component `index` of `app` once with `request`.
pub async fn invoke_component(
    app: &App,
    index: usize,
    request: Request<Body>,
    params: Vec<(String, String)>,
    request_id: String,
) -> Response {
    let Some(loaded) = app.components.get(index) else {
        return ApiError::new(StatusCode::NOT_FOUND, "no such component", &request_id)
            .into_response();
    };
    let _slot = match acquire_slot(loaded).await {
        Ok(slot) => slot,
        Err(error) => return ApiError::from_invoke(error, &request_id).into_response(),
    };
    let runtime = &app.runtime;
    let mut response = match &loaded.entry {
        Entry::Handler(pre) => {
            let record = match to_record(request, params).await {
                Ok(record) => record,
                Err(status) => {
                    return ApiError::new(
                        status,
                        format!("request body is larger than {MAX_REQUEST_BODY} bytes"),
                        &request_id,
                    )
                    .into_response();
                }
            };
            let invocation = Invocation {
                request_id: &request_id,
                app: &app.manifest.app,
            };
            match call_handler(runtime, loaded, pre, record, invocation).await {
                Ok(answer) => match from_record(answer) {
                    Ok(response) => response,
                    Err(why) => {
                        tracing::error!(request_id, component = %loaded.spec.name, "invalid response: {why}");
                        return ApiError::new(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            format!(
                                "component `{}` returned an invalid response: {why}",
                                loaded.spec.name
                            ),
                            &request_id,
                        )
                        .into_response();
                    }
                },
                Err(error) => return ApiError::from_invoke(error, &request_id).into_response(),
            }
        }
        Entry::Proxy(pre) => {
            match call_proxy(runtime, loaded, pre, request, request_id.clone()).await {
                Ok(response) => response.map(Body::new),
                Err(error) => return ApiError::from_invoke(error, &request_id).into_response(),
            }
        }
    };
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, id);
    }
    response
}

async fn to_record(
    request: Request<Body>,
    params: Vec<(String, String)>,
) -> Result<http_handler::Request, StatusCode> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_REQUEST_BODY)
        .await
        .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE)?;
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    Ok(http_handler::Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers,
        params,
        body: body.to_vec(),
    })
}

fn from_record(answer: http_handler::Response) -> Result<Response, String> {
    let status = StatusCode::from_u16(answer.status)
        .ok()
        .filter(|s| (100..600).contains(&s.as_u16()))
        .ok_or_else(|| format!("status {} is not an HTTP status", answer.status))?;
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a header name"))?;
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("the value of header `{name}` is not valid"))?;
        headers.append(header, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)]) -> http_handler::Response {
        http_handler::Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: b"x".to_vec(),
        }
    }

    #[test]
    fn guest_responses_become_http_responses() {
        let response = from_record(answer(201, &[("content-type", "text/plain")]));
        let response = response.expect("valid");
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()["content-type"], "text/plain");
    }

    #[test]
    fn invalid_statuses_and_headers_are_refused() {
        assert!(from_record(answer(99, &[])).is_err());
        assert!(from_record(answer(600, &[])).is_err());
        assert!(from_record(answer(200, &[("bad header", "x")])).is_err());
        assert!(from_record(answer(200, &[("x", "line\nbreak")])).is_err());
    }
}
