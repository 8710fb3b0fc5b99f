//! The HTTP edge every request passes, built-in APIs and app routes alike: a request id (the
//! client's own `x-request-id` when it is sane, so that a trace can cross services, or else one
//! the host mints), returned as `x-request-id` on every response, and one log line for every
//! 5xx with that id and the detail the failure left in the response's extensions
//! ([`ErrorDetail`]). Errors are turned into responses where they happen and logged here, once.
//!
//! One layer, written out as a tower service, because it runs on every request: it allocates
//! only the id itself and boxes nothing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;

use super::error::REQUEST_ID_HEADER;
use super::request_id;

/// What went wrong behind a 5xx, for the log only (the client gets a short message).
#[derive(Debug, Clone)]
pub struct ErrorDetail(pub String);

/// The id of a request that passed the edge, from its headers.
pub fn id_of(headers: &HeaderMap) -> String {
    headers
        .get(&REQUEST_ID_HEADER)
        .and_then(|id| id.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Whether a client's request id may stand for the request in logs and responses: 1 to 64
/// letters, digits, `-`, `_` or `.`.
fn is_sane(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The request's id: the client's single sane one, or a new one.
fn assign(headers: &mut HeaderMap) -> HeaderValue {
    let mut sent = headers.get_all(&REQUEST_ID_HEADER).iter();
    if let (Some(id), None) = (sent.next(), sent.next())
        && is_sane(id.as_bytes())
    {
        return id.clone();
    }
    let id = request_id::next_header();
    headers.insert(REQUEST_ID_HEADER, id.clone());
    id
}

/// The edge as a layer.
#[derive(Clone, Copy, Default)]
pub struct EdgeLayer;

impl<S> tower::Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge { inner }
    }
}

/// The edge around a service.
#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
}

/// What the response side needs from the request.
pub struct Seen {
    id: HeaderValue,
    method: Method,
    uri: Uri,
}

impl Seen {
    fn finish<E>(self, result: Result<Response, E>) -> Result<Response, E> {
        let mut response = result?;
        response
            .headers_mut()
            .insert(REQUEST_ID_HEADER, self.id.clone());
        let status = response.status();
        if status.is_server_error() {
            let detail = response
                .extensions()
                .get::<ErrorDetail>()
                .map_or("the component answered with this status", |d| d.0.as_str());
            let request_id = self.id.to_str().unwrap_or_default();
            let (method, path) = (&self.method, self.uri.path());
            // The detail may carry guest-made text: a field, which the log escapes.
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                tracing::error!(request_id, %method, path, status = status.as_u16(), detail, "server error");
            } else {
                tracing::warn!(request_id, %method, path, status = status.as_u16(), detail, "server error");
            }
        }
        Ok(response)
    }
}

impl<S> tower::Service<Request> for Edge<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let seen = Seen {
            id: assign(request.headers_mut()),
            method: request.method().clone(),
            uri: request.uri().clone(),
        };
        EdgeFuture {
            inner: self.inner.call(request),
            seen: Some(seen),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's response, finished by the edge.
    pub struct EdgeFuture<F> {
        #[pin]
        inner: F,
        seen: Option<Seen>,
    }
}

impl<F, E> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        Poll::Ready(match this.seen.take() {
            Some(seen) => seen.finish(result),
            None => result,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_request_ids_are_kept() {
        assert!(is_sane(b"abc-123_X.y"));
        assert!(is_sane(&[b'a'; 64]));
        for bad in [
            &b""[..],
            &[b'a'; 65],
            b"has space",
            b"new\nline",
            b"quote\"",
            b"\xc3\xa9",
        ] {
            assert!(!is_sane(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_request_gets_the_clients_sane_id_or_a_new_one() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static("trace-1"));
        assert_eq!(assign(&mut headers), "trace-1");
        headers.append(REQUEST_ID_HEADER, HeaderValue::from_static("trace-2"));
        let minted = assign(&mut headers);
        assert_eq!(minted.len(), 20, "two ids: neither is trusted");
        assert_eq!(headers.get_all(&REQUEST_ID_HEADER).iter().count(), 1);
        let mut empty = HeaderMap::new();
        assert_eq!(assign(&mut empty), empty[&REQUEST_ID_HEADER]);
    }
}
