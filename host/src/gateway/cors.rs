//! CORS for browsers (`[app] cors`), through tower-http's `CorsLayer`: the allowed origins may
//! call the app's routes and the auth, storage and functions APIs; the operator's endpoints
//! (`/admin/v1`, `/queue/v1`, `/metrics`, `/healthz`) answer no origin. Only requests that
//! carry an `Origin` go through it, and only an OPTIONS with `Access-Control-Request-Method`
//! is a preflight: an app route may still answer other OPTIONS requests itself.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::{Layer as _, ServiceExt as _};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::manifest::Cors;

/// Paths no browser origin may call, whatever `[app] cors` says.
const OPERATOR_PREFIXES: [&str; 4] = ["/admin/v1", "/queue/v1", "/metrics", "/healthz"];

/// Response headers a page may read besides the always-safe ones.
const EXPOSED: [&str; 10] = [
    "x-request-id",
    "content-range",
    "content-length",
    "etag",
    "retry-after",
    "ratelimit",
    "ratelimit-policy",
    "x-nimbus-start-kind",
    "location",
    "content-disposition",
];

/// The layer for `cors`.
pub fn layer(cors: &Cors) -> CorsLayer {
    let origins = Arc::new(cors.origins.clone());
    let allow_origin = AllowOrigin::predicate(move |origin: &HeaderValue, parts| {
        let path = parts.uri.path();
        let operator = OPERATOR_PREFIXES.iter().any(|prefix| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        !operator && origin.to_str().is_ok_and(|origin| origins.allows(origin))
    });
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        // What supabase-js and apps send varies (apikey, x-client-info, x-upsert, range, ...):
        // the allowed origins may send any header, as Supabase's gateway lets them.
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(EXPOSED.map(HeaderName::from_static))
        .allow_credentials(cors.credentials)
        .max_age(cors.max_age)
}

/// Middleware: requests with an `Origin` through `cors`, the others straight on.
pub async fn apply(
    axum::extract::State(cors): axum::extract::State<CorsLayer>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let from_a_page = request.headers().contains_key(header::ORIGIN);
    let not_a_preflight = request.method() == Method::OPTIONS
        && !request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if !from_a_page || not_a_preflight {
        return next.run(request).await;
    }
    match cors.layer(next).oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(infallible) => match infallible {},
    }
}
