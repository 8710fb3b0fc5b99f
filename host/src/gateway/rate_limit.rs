//! A route's `rate_limit`: GCRA on the host's shared limiter, so that every worker process
//! draws on one allowance per client, with 429, `Retry-After` and the `RateLimit-Policy` and
//! `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers-08.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use nimbus_limits::{Quota, RateLimiter};

use super::error::ApiError;
use crate::manifest::{RateLimit, RateLimitKey};

const POLICY_HEADER: HeaderName = HeaderName::from_static("ratelimit-policy");
const STATE_HEADER: HeaderName = HeaderName::from_static("ratelimit");

/// Takes one request of this client from route `route`'s allowance; past it, the 429 to answer
/// with. The client is the socket's address (a forwarded-for header does not name it), or the
/// verified user.
pub fn refusal<B>(
    limiter: &dyn RateLimiter,
    (route, limit): (u32, RateLimit),
    request: &Request<B>,
    user_id: Option<&str>,
    request_id: &str,
) -> Option<Response> {
    let mut key = route.to_be_bytes().to_vec();
    match limit.per {
        RateLimitKey::Ip => {
            if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
                key.extend_from_slice(peer.ip().to_string().as_bytes());
            }
        }
        // The manifest allows `per = "user"` only on routes that require a token.
        RateLimitKey::User => key.extend_from_slice(user_id.unwrap_or_default().as_bytes()),
    }
    let quota = Quota::per_window(limit.burst, limit.requests, limit.window);
    let wait = limiter.check("route", &key, quota).err()?;
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "too many requests: this route allows {} per {}s; retry in {seconds}s",
            limit.requests,
            limit.window.as_secs_f64()
        ),
        request_id,
    )
    .with_retry_after(seconds)
    .into_response();
    let window = limit.window.as_secs().max(1);
    let headers = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(&format!("\"route\";q={};w={window}", limit.requests))
    {
        headers.insert(POLICY_HEADER, policy);
    }
    if let Ok(state) = HeaderValue::from_str(&format!("\"route\";r=0;t={seconds}")) {
        headers.insert(STATE_HEADER, state);
    }
    Some(response)
}
