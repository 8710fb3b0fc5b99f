//! The HTTP edge every request passes, built-in APIs and app routes alike: a request id (the
//! client's own `x-request-id` when it is sane, so that a trace can cross services, or else one
//! the host mints), returned as `x-request-id` on every response, and one log line for every 5xx with that id and the detail
//! the failure left in the response's extensions ([`ErrorDetail`]). Errors are turned into
//! responses where they happen and logged here, once.

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

use super::error::REQUEST_ID_HEADER;
use super::request_id;

/// Makes request ids with the host's generator.
#[derive(Clone, Copy, Default)]
struct HostRequestIds;

impl MakeRequestId for HostRequestIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&request_id::next())
            .ok()
            .map(RequestId::new)
    }
}

/// What went wrong behind a 5xx, for the log only (the client gets a short message).
#[derive(Debug, Clone)]
pub struct ErrorDetail(pub String);

/// The id of the request, as the edge assigned it.
pub fn id_of(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The request id of the current request, as an extractor.
pub struct ReqId(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ReqId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ReqId(id_of(&parts.extensions)))
    }
}

/// `router` behind the edge.
pub fn wrap(router: Router) -> Router {
    // The last layer added is the first a request meets.
    router
        .layer(middleware::from_fn(log_server_errors))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(HostRequestIds))
        .layer(middleware::from_fn(drop_insane_client_request_id))
}

/// Whether a client's request id may stand for the request in logs and responses: 1 to 64
/// letters, digits, `-`, `_` or `.`.
fn is_sane(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

async fn drop_insane_client_request_id(mut request: Request, next: Next) -> Response {
    let headers = request.headers_mut();
    let values = headers.get_all(REQUEST_ID_HEADER);
    let mut ids = values.iter();
    let keep = matches!((ids.next(), ids.next()), (Some(id), None) if is_sane(id.as_bytes()));
    if !keep {
        headers.remove(REQUEST_ID_HEADER);
    }
    next.run(request).await
}

async fn log_server_errors(request: Request, next: Next) -> Response {
    let request_id = id_of(request.extensions());
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    if status.is_server_error() {
        let detail = response
            .extensions()
            .get::<ErrorDetail>()
            .map_or("the component answered with this status", |d| d.0.as_str());
        if status == axum::http::StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(request_id, %method, path, status = status.as_u16(), "{detail}");
        } else {
            tracing::warn!(request_id, %method, path, status = status.as_u16(), "{detail}");
        }
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_short_plain_request_ids_are_kept() {
        assert!(super::is_sane(b"abc-123_X.y"));
        assert!(super::is_sane(&[b'a'; 64]));
        for bad in [
            &b""[..],
            &[b'a'; 65],
            b"has space",
            b"new\nline",
            b"quote\"",
            b"\xc3\xa9",
        ] {
            assert!(!super::is_sane(bad), "{bad:?}");
        }
    }
}
