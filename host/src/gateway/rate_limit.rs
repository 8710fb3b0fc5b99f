//! A route's `rate_limit`: GCRA on the host's shared limiter, so that every worker process
//! draws on one allowance per client, with 429, `Retry-After` and the `RateLimit-Policy` and
//! `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers-08.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use nimbus_limits::{Quota, RateLimiter};

use super::client_address::client_ip;
use super::error::ApiError;
use crate::app_version::{AppVersion, RouteTarget};
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

/// One request's claim on its route's allowance, if the route has a limit of that kind.
pub struct Claim<'a> {
    limiter: &'a dyn RateLimiter,
    limit: Option<(u64, RateLimit)>,
    who: Vec<u8>,
}

/// The claim of a request on its route's allowance per client address: the socket's peer, or
/// the client a trusted proxy names (see [`client_ip`]).
pub fn by_address<'a, B>(
    limiter: &'a dyn RateLimiter,
    app: &AppVersion,
    target: RouteTarget,
    request: &Request<B>,
) -> Claim<'a> {
    let limit = target.rate_limit.filter(|(_, l)| l.per == RateLimitKey::Ip);
    // The connection layer always records the peer; were it missing, every client would share
    // one allowance: stricter, never looser.
    let who = match (limit, request.extensions().get::<ConnectInfo<SocketAddr>>()) {
        (Some(_), Some(ConnectInfo(peer))) => {
            let (trusted, header) = (&app.manifest.trusted_proxies, app.manifest.forwarded_header);
            client_key(client_ip(trusted, header, peer.ip(), request.headers()))
        }
        _ => Vec::new(),
    };
    Claim {
        limiter,
        limit,
        who,
    }
}

/// The claim of a request on its route's allowance per user (the manifest allows that only on
/// routes that require a token, so `identity` is the verified caller).
pub fn by_user<'a>(
    limiter: &'a dyn RateLimiter,
    target: RouteTarget,
    identity: Option<&nimbus_auth::Identity>,
) -> Claim<'a> {
    let limit = target
        .rate_limit
        .filter(|(_, l)| l.per == RateLimitKey::User);
    let who = identity.map_or_else(Vec::new, |who| who.user_id.as_bytes().to_vec());
    Claim {
        limiter,
        limit,
        who,
    }
}

impl Claim<'_> {
    /// Takes one request from the allowance; past it, the 429 to answer with.
    pub fn refusal(&self, request_id: &str) -> Option<Response> {
        let (route, limit) = self.limit?;
        refusal(self.limiter, (route, limit), &self.who, request_id)
    }
}

/// Takes one request of client `who` (its [`client_key`], or its user id) from the route's
/// allowance (named by `route`); past it, the 429 to answer with.
fn refusal(
    limiter: &dyn RateLimiter,
    (route, limit): (u64, RateLimit),
    who: &[u8],
    request_id: &str,
) -> Option<Response> {
    let mut key = route.to_be_bytes().to_vec();
    key.extend_from_slice(who);
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
