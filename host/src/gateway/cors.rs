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
use tower_http::cors::{AllowCredentials, AllowHeaders, AllowOrigin, CorsLayer};

use crate::manifest::Cors;

/// Paths no browser origin may call, whatever `[app] cors` says.
const OPERATOR_PREFIXES: [&str; 4] = ["/admin/v1", "/queue/v1", "/metrics", "/healthz"];

/// Response headers a page may read besides the always-safe ones.
const EXPOSED: [&str; 11] = [
    "x-request-id",
    "content-range",
    "content-length",
    "etag",
    "retry-after",
    "ratelimit",
    "ratelimit-policy",
    "idempotent-replayed",
    "www-authenticate",
    "location",
    "content-disposition",
];

/// Whether a page on `origin` may read the answer to a request for `path`.
fn allowed(origins: &crate::manifest::CorsOrigins, origin: &HeaderValue, path: &str) -> bool {
    let operator = OPERATOR_PREFIXES.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    });
    !operator && origin.to_str().is_ok_and(|origin| origins.allows(origin))
}

/// The layer for `cors`.
pub fn layer(cors: &Cors) -> CorsLayer {
    let origins = Arc::new(cors.origins.clone());
    let for_origin = Arc::clone(&origins);
    let allow_origin = AllowOrigin::predicate(move |origin: &HeaderValue, parts| {
        allowed(&for_origin, origin, parts.uri.path())
    });
    // Credentials only ever with an allowed origin, never for a refused one.
    let allow_credentials = if cors.credentials {
        AllowCredentials::predicate(move |origin: &HeaderValue, parts| {
            allowed(&origins, origin, parts.uri.path())
        })
    } else {
        AllowCredentials::default()
    };
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
        .allow_credentials(allow_credentials)
        .max_age(cors.max_age)
}

/// Middleware: requests with an `Origin` through `cors`, the others straight on. The host's
/// rules are the only CORS rules: what a component sets under `access-control-*` is dropped,
/// so that it cannot open the app to an origin the manifest does not list.
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
        let mut response = without_guest_cors(next.run(request).await);
        // A cache must not hand this answer (made without an Origin) to a page that sends one.
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("origin"));
        return response;
    }
    let inner = tower::service_fn(move |request: Request<Body>| {
        let next = next.clone();
        async move { Ok::<_, std::convert::Infallible>(without_guest_cors(next.run(request).await)) }
    });
    match cors.layer(inner).oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(infallible) => match infallible {},
    }
}

fn without_guest_cors(mut response: Response) -> Response {
    let guest_set: Vec<HeaderName> = response
        .headers()
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-"))
        .cloned()
        .collect();
    for name in guest_set {
        response.headers_mut().remove(name);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::CorsOrigins;

    #[test]
    fn the_operators_endpoints_answer_no_origin_whatever_the_list() {
        let any = CorsOrigins::Any;
        let page = HeaderValue::from_static("http://localhost:5173");
        for path in [
            "/admin/v1",
            "/admin/v1/users",
            "/queue/v1/jobs",
            "/metrics",
            "/healthz",
        ] {
            assert!(!allowed(&any, &page, path), "{path}");
        }
        for path in [
            "/hello",
            "/auth/v1/token",
            "/storage/v1/object/a/b",
            "/adminx",
            "/metricsz",
        ] {
            assert!(allowed(&any, &page, path), "{path}");
        }
        let listed = CorsOrigins::List(vec!["https://app.example".into()]);
        assert!(!allowed(&listed, &page, "/hello"));
    }
}
