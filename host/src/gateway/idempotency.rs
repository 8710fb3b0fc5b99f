//! `idempotency = true`: a POST, PUT, PATCH or DELETE that carries an `Idempotency-Key` header
//! runs once. Its first complete answer that is not a 5xx (up to [`MAX_STORED_BODY`]) is kept
//! for 24 hours per app, component, caller and key, and a retry with the same key gets it
//! again with `Idempotent-Replayed: true`; a retry while the first still runs gets 409, and
//! the same key with another request (method, path, query or body) gets 422, as the IETF
//! httpapi draft `draft-ietf-httpapi-idempotency-key-header` describes.
//!
//! The caller is the verified user, else the client address, so that one caller can never
//! replay another's answer; a `Set-Cookie` is never kept. The request runs to its end even if
//! its client leaves (see the gateway's dispatch), so a retry finds its answer.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use nimbus_kv::{Batch, Condition, KvStore, StoreId};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::error::ApiError;
use crate::runtime::MAX_REQUEST_BODY;

/// The reserved key-value store (per app) of kept answers; no manifest name can spell it.
pub const IDEMPOTENCY_STORE: &str = "~idempotency";
/// How long an answer is kept for its key.
const KEPT_FOR: Duration = Duration::from_secs(24 * 3600);
/// Largest answer body kept; a larger answer goes out, but a retry runs again.
pub const MAX_STORED_BODY: usize = 1 << 20;
/// Longest key accepted.
const MAX_KEY_CHARS: usize = 255;
/// How long past its component's timeout a request is taken to be still running.
const RUNNING_MARGIN: Duration = Duration::from_secs(60);

const KEY_HEADER: &str = "idempotency-key";
const REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");

/// What is kept under a key.
#[derive(Serialize, Deserialize)]
enum Record {
    /// The first request is running; the nonce tells this claim from a later one of the same
    /// request.
    Running {
        fingerprint: [u8; 32],
        nonce: [u8; 16],
    },
    /// Its answer.
    Done {
        fingerprint: [u8; 32],
        status: u16,
        headers: Vec<(String, Vec<u8>)>,
        body: Vec<u8>,
    },
}

impl Record {
    fn fingerprint(&self) -> &[u8; 32] {
        match self {
            Record::Running { fingerprint, .. } | Record::Done { fingerprint, .. } => fingerprint,
        }
    }
}

/// A request's claim on its idempotency key, once it runs.
pub struct Claim {
    kv: std::sync::Arc<dyn KvStore>,
    store: StoreId,
    key: String,
    running: Vec<u8>,
    fingerprint: [u8; 32],
    settled: bool,
}

/// What the request may do.
pub enum Decision {
    /// Run it, then [`Claim::settle`] its answer.
    Run(Box<(Request<Body>, Claim)>),
    /// Answer this without running it.
    Answer(Response),
}

fn keyed_method(method: &http::Method) -> bool {
    matches!(
        *method,
        http::Method::POST | http::Method::PUT | http::Method::PATCH | http::Method::DELETE
    )
}

/// Whether `headers` ask for idempotency on a request to `method`.
pub fn applies(method: &http::Method, headers: &HeaderMap) -> bool {
    keyed_method(method) && headers.contains_key(KEY_HEADER)
}

/// Decides what a request with an `Idempotency-Key` does: run (holding the key), or answer
/// with the kept answer, 409 or 422.
pub async fn decide(
    kv: std::sync::Arc<dyn KvStore>,
    app: &str,
    component: &str,
    caller: &str,
    timeout: Duration,
    request: Request<Body>,
    request_id: &str,
) -> Decision {
    let fail = |status, message: &str| {
        Decision::Answer(ApiError::new(status, message, request_id).into_response())
    };
    let Some(key) = request
        .headers()
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().trim_matches('"').to_string())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= MAX_KEY_CHARS
                && v.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        })
    else {
        return fail(
            StatusCode::BAD_REQUEST,
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
        );
    };
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BODY).await {
        Ok(body) => body,
        Err(_) => {
            return fail(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is larger than an idempotent route takes",
            );
        }
    };
    let mut hash = Sha256::new();
    hash.update(parts.method.as_str());
    hash.update([0]);
    hash.update(parts.uri.to_string());
    hash.update([0]);
    hash.update(&body);
    let fingerprint: [u8; 32] = hash.finalize().into();
    let mut scope = Sha256::new();
    scope.update(caller);
    scope.update([0]);
    scope.update(&key);
    let stored_key = format!("{component}/{}", hex::encode(scope.finalize()));
    let store = StoreId::new(app, IDEMPOTENCY_STORE);
    let mut nonce = [0u8; 16];
    if getrandom::fill(&mut nonce).is_err() {
        return fail(StatusCode::SERVICE_UNAVAILABLE, "try again");
    }
    let running = match postcard::to_allocvec(&Record::Running { fingerprint, nonce }) {
        Ok(bytes) => bytes,
        Err(_) => return fail(StatusCode::INTERNAL_SERVER_ERROR, "cannot keep the key"),
    };
    // Twice at most: a claim can lose only to a request that kept the key meanwhile.
    for _ in 0..2 {
        let kept = match kv.get(&store, &stored_key).await {
            Ok(kept) => kept,
            Err(error) => {
                tracing::error!("idempotency store failure: {error}");
                return fail(StatusCode::SERVICE_UNAVAILABLE, "try again");
            }
        };
        if let Some(bytes) = kept {
            let Ok(record) = postcard::from_bytes::<Record>(&bytes) else {
                return fail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "a kept answer is unreadable",
                );
            };
            if *record.fingerprint() != fingerprint {
                return fail(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "this Idempotency-Key was used for a different request",
                );
            }
            return match record {
                Record::Running { .. } => fail(
                    StatusCode::CONFLICT,
                    "a request with this Idempotency-Key is still being processed",
                ),
                Record::Done {
                    status,
                    headers,
                    body,
                    ..
                } => Decision::Answer(replay(status, headers, body)),
            };
        }
        let batch = Batch::new()
            .check(&store, &stored_key, Condition::Absent)
            .put_expiring(
                &store,
                &stored_key,
                running.clone(),
                timeout + RUNNING_MARGIN,
            );
        match kv.apply(batch).await {
            Ok(true) => {
                let claim = Claim {
                    kv,
                    store,
                    key: stored_key,
                    running,
                    fingerprint,
                    settled: false,
                };
                let request = Request::from_parts(parts, Body::from(body));
                return Decision::Run(Box::new((request, claim)));
            }
            Ok(false) => continue,
            Err(error) => {
                tracing::error!("idempotency store failure: {error}");
                return fail(StatusCode::SERVICE_UNAVAILABLE, "try again");
            }
        }
    }
    fail(
        StatusCode::CONFLICT,
        "a request with this Idempotency-Key is still being processed",
    )
}

fn replay(status: u16, headers: Vec<(String, Vec<u8>)>, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(&value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
        .headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

impl Claim {
    /// Keeps `response` for the key when it is complete, not a 5xx and small enough, and lets
    /// go of the key otherwise (a retry runs again); returns the response to send.
    pub async fn settle(mut self, response: Response) -> Response {
        self.settled = true;
        if response.status().is_server_error() {
            self.release().await;
            return response;
        }
        let (parts, body) = response.into_parts();
        let mut body = body;
        let mut kept = Vec::new();
        loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        kept.extend_from_slice(&data);
                    }
                    if kept.len() > MAX_STORED_BODY {
                        // Too large to keep: it goes out as it comes.
                        self.release().await;
                        let head =
                            futures::stream::iter([Ok::<_, axum::Error>(bytes::Bytes::from(kept))]);
                        let rest = body.into_data_stream();
                        let stream = futures::StreamExt::chain(head, rest);
                        return Response::from_parts(parts, Body::from_stream(stream));
                    }
                }
                Some(Err(_)) => {
                    // The answer broke off: it was never complete.
                    self.release().await;
                    return ApiError::new(
                        StatusCode::BAD_GATEWAY,
                        "the component's answer broke off",
                        "",
                    )
                    .into_response();
                }
                None => break,
            }
        }
        // Cookies are never kept: a replay goes to whoever shares the caller's address.
        let headers = parts
            .headers
            .iter()
            .filter(|(name, _)| {
                *name != super::REQUEST_ID_HEADER && *name != http::header::SET_COOKIE
            })
            .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
            .collect();
        let record = Record::Done {
            fingerprint: self.fingerprint,
            status: parts.status.as_u16(),
            headers,
            body: kept.clone(),
        };
        let stored = match postcard::to_allocvec(&record) {
            Ok(bytes) => {
                let batch = Batch::new()
                    .check(
                        &self.store,
                        &self.key,
                        Condition::Equals(self.running.clone()),
                    )
                    .put_expiring(&self.store, &self.key, bytes, KEPT_FOR);
                self.kv.apply(batch).await.map(drop)
            }
            Err(error) => Err(nimbus_kv::KvError::Storage(error.to_string())),
        };
        if let Err(error) = stored {
            tracing::error!("cannot keep an idempotent answer: {error}");
            self.release().await;
        }
        Response::from_parts(parts, Body::from(kept))
    }

    async fn release(&self) {
        let _ = self
            .kv
            .compare_and_delete(&self.store, &self.key, &self.running)
            .await;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // The request was dropped mid-run (the client left, the host stopped): let go of the
        // key now rather than when its running mark expires.
        let (kv, store, key, running) = (
            std::sync::Arc::clone(&self.kv),
            self.store.clone(),
            self.key.clone(),
            self.running.clone(),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = kv.compare_and_delete(&store, &key, &running).await;
            });
        }
    }
}
