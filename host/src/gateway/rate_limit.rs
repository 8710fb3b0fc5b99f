//! A route's `rate_limit`: GCRA on the host's shared limiter, so that every worker process
//! draws on one allowance per client, with 429, `Retry-After` and the `RateLimit-Policy` and
//! `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers-08.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use nimbus_limits::{Quota, RateLimiter};

use super::error::ApiError;
use crate::manifest::{RateLimit, RateLimitKey};

const POLICY_HEADER: HeaderName = HeaderName::from_static("ratelimit-policy");
const STATE_HEADER: HeaderName = HeaderName::from_static("ratelimit");

/// Whose allowance a client address draws on: the address for IPv4, its /64 for IPv6 (one
/// client usually holds a whole /64, so finer keys would be free to multiply).
pub fn client_key(peer: IpAddr) -> Vec<u8> {
    // An IPv4 client of a dual-stack listener arrives as `::ffff:a.b.c.d`.
    match peer.to_canonical() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets()[..8].to_vec(),
    }
}

/// Takes one request of this client from the route's allowance (named by `route`); past it,
/// the 429 to answer with. The client is the socket's address (a forwarded-for header does not
/// name it), or the verified user.
pub fn refusal<B>(
    limiter: &dyn RateLimiter,
    (route, limit): (u64, RateLimit),
    request: &Request<B>,
    user_id: Option<&str>,
    request_id: &str,
) -> Option<Response> {
    let mut key = route.to_be_bytes().to_vec();
    match limit.per {
        RateLimitKey::Ip => {
            // The connection layer always records the peer; were it missing, every client would
            // share one allowance: stricter, never looser.
            if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
                key.extend_from_slice(&client_key(peer.ip()));
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
    let window = limit.window.as_secs();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_keyed_by_its_64_and_an_ipv4_one_by_its_address() {
        let key = |text: &str| client_key(text.parse().expect("address"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:203.0.113.7"), key("203.0.113.7"));
        assert_ne!(key("203.0.113.7"), key("203.0.113.8"));
    }
}
