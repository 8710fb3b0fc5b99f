//! App routes: match the manifest's routes, invoke the component, turn its answer (or its
//! failure) into an HTTP response carrying `x-request-id`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};

use super::caller::{api_key_ok, user_token, verify_token};
use super::error::{ApiError, REQUEST_ID_HEADER};
use super::guest_response::{final_status, from_record, sanitize_headers};
use super::request_id;
use crate::app::{App, RouteTarget};
use crate::bindings::http_handler;
use crate::manifest::RouteAuth;
use crate::routes::RouteMatch;
use crate::runtime::invoke::{acquire_slot, call_handler, call_proxy};
use crate::runtime::{Entry, Invocation, LoadedComponent};

/// Largest request body passed to a record-based handler.
pub const MAX_REQUEST_BODY: usize = 16 << 20;

/// Request headers that carry the verified identity to `wasi:http` components. Whatever a
/// client sends under these names is removed first.
const IDENTITY_HEADERS: [&str; 3] = [
    "x-nimbus-user-id",
    "x-nimbus-user-email",
    "x-nimbus-user-role",
];

/// The fallback handler: every request that is not a built-in API goes to the app's routes.
pub async fn dispatch(State(app): State<Arc<App>>, request: Request<Body>) -> Response {
    let request_id = request_id::next();
    let routed = app
        .router
        .route(request.method().as_str(), request.uri().path());
    match routed {
        RouteMatch::Found { target, params } => {
            let mut request = request;
            let identity = match check_caller(&app, target, &mut request, &request_id).await {
                Ok(identity) => identity,
                Err(error) => return error.into_response(),
            };
            invoke_component(
                &app,
                target.component,
                request,
                params,
                request_id,
                identity,
            )
            .await
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

/// Applies the app's API key rule and the route's `auth`; returns the verified identity and
/// puts it in the identity headers (after removing any the client sent).
async fn check_caller(
    app: &App,
    target: RouteTarget,
    request: &mut Request<Body>,
    request_id: &str,
) -> Result<Option<nimbus_auth::Identity>, ApiError> {
    if !api_key_ok(app, request.headers(), request.uri().query()) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this app requires its publishable key in the `apikey` header",
            request_id,
        ));
    }
    let headers = request.headers_mut();
    for name in IDENTITY_HEADERS {
        headers.remove(name);
    }
    if target.auth == RouteAuth::None {
        return Ok(None);
    }
    // Only the header map is borrowed across the check: the request's body is not `Sync`.
    let headers: &HeaderMap = headers;
    let identity = match user_token(app, headers) {
        Some(token) => match verify_token(app, token).await {
            Ok(claims) => Some(claims.identity()),
            Err(error) => {
                return Err(
                    ApiError::new(StatusCode::UNAUTHORIZED, error.to_string(), request_id)
                        .with_www_authenticate(),
                );
            }
        },
        None if target.auth == RouteAuth::Required => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this route requires `Authorization: Bearer <access token>`; get one from POST /auth/v1/token",
                request_id,
            )
            .with_www_authenticate());
        }
        None => None,
    };
    let headers = request.headers_mut();
    if let Some(identity) = &identity {
        let values = [
            Some(identity.user_id.as_str()),
            identity.email.as_deref(),
            Some(identity.role.as_str()),
        ];
        for (name, value) in IDENTITY_HEADERS.into_iter().zip(values) {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name, value);
            }
        }
    }
    Ok(identity)
}

/// Invokes component `index` of `app` once with `request`.
pub async fn invoke_component(
    app: &App,
    index: usize,
    request: Request<Body>,
    params: Vec<(String, String)>,
    request_id: String,
    identity: Option<nimbus_auth::Identity>,
) -> Response {
    let Some(loaded) = app.components.get(index) else {
        return ApiError::new(StatusCode::NOT_FOUND, "no such component", &request_id)
            .into_response();
    };
    let runtime = &app.runtime;
    let mut response = match &loaded.entry {
        Entry::Handler(pre) => {
            // The body is read before a slot is taken, so that clients trickling bodies in
            // cannot hold the component's slots.
            let record = match to_record(request, params).await {
                Ok(record) => record,
                Err(status) => {
                    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                        format!("request body is larger than {MAX_REQUEST_BODY} bytes")
                    } else {
                        "the request body stopped arriving".to_string()
                    };
                    return ApiError::new(status, message, &request_id).into_response();
                }
            };
            let _slot = match acquire_slot(runtime, loaded).await {
                Ok(slot) => slot,
                Err(error) => return ApiError::from_invoke(error, &request_id).into_response(),
            };
            let invocation = Invocation {
                request_id: &request_id,
                app: &app.manifest.app,
                identity,
            };
            match call_handler(runtime, loaded, pre, record, invocation).await {
                Ok(answer) => match from_record(answer) {
                    Ok(response) => response,
                    Err(why) => return invalid_response(loaded, &why, &request_id),
                },
                Err(error) => return ApiError::from_invoke(error, &request_id).into_response(),
            }
        }
        Entry::Proxy(pre) => {
            // The slot goes with the instance, which may run on after the response head.
            let slot = match acquire_slot(runtime, loaded).await {
                Ok(slot) => slot,
                Err(error) => return ApiError::from_invoke(error, &request_id).into_response(),
            };
            match call_proxy(runtime, loaded, pre, request, request_id.clone(), slot).await {
                Ok(response) => {
                    let (mut parts, body) = response.into_parts();
                    let checked = final_status(parts.status.as_u16())
                        .and_then(|_| sanitize_headers(&mut parts.headers));
                    if let Err(why) = checked {
                        return invalid_response(loaded, &why, &request_id);
                    }
                    Response::from_parts(parts, Body::new(body))
                }
                Err(error) => return ApiError::from_invoke(error, &request_id).into_response(),
            }
        }
    };
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, id);
    }
    response
}

/// The 500 for a guest response that cannot go out as it is.
fn invalid_response(loaded: &LoadedComponent, why: &str, request_id: &str) -> Response {
    tracing::error!(request_id, component = %loaded.spec.name, "invalid response: {why}");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!(
            "component `{}` returned an invalid response: {why}",
            loaded.spec.name
        ),
        request_id,
    )
    .into_response()
}

async fn to_record(
    request: Request<Body>,
    params: Vec<(String, String)>,
) -> Result<http_handler::Request, StatusCode> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_REQUEST_BODY)
        .await
        .map_err(|error| {
            let error = error.into_inner();
            if error.is::<http_body_util::LengthLimitError>() {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                // The client stopped sending (`--read-timeout`) or went away.
                StatusCode::REQUEST_TIMEOUT
            }
        })?;
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
