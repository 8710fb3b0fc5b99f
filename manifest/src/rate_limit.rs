//! `rate_limit = { per = "ip" | "user", requests = 100, window = "1m", burst = 20 }`, on a
//! component (for all its routes) or on one route: `requests` per `window` is the sustained
//! rate, `burst` how many may come at once (default: `requests`).

use std::time::Duration;

use serde::Deserialize;

use crate::units::HumanDuration;

/// Whose requests one allowance counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitKey {
    /// The client's address.
    Ip,
    /// The verified user: only on routes that require a token.
    User,
}

/// A rate limit as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    per: RateLimitKey,
    requests: u32,
    window: HumanDuration,
    #[serde(default)]
    burst: Option<u32>,
}

/// A checked rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Whose requests one allowance counts.
    pub per: RateLimitKey,
    /// Requests per `window`, sustained.
    pub requests: u32,
    /// The window `requests` are counted over.
    pub window: Duration,
    /// Requests that may come at once.
    pub burst: u32,
}

impl RawRateLimit {
    /// The checked limit, or why not.
    pub fn resolve(&self) -> Result<RateLimit, String> {
        if self.requests == 0 {
            return Err("`requests` must be at least 1".into());
        }
        if self.window.0.is_zero() {
            return Err("`window` must be longer than zero".into());
        }
        let burst = self.burst.unwrap_or(self.requests);
        if burst == 0 {
            return Err("`burst` must be at least 1".into());
        }
        Ok(RateLimit {
            per: self.per,
            requests: self.requests,
            window: self.window.0,
            burst,
        })
    }
}
