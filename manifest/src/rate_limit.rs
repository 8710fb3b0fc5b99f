//! `rate_limit = { per = "ip" | "user", requests = 100, window = "1m", burst = 20 }`, on a
//! component (for all its routes) or on one route: `requests` per `window` is the sustained
//! rate, `burst` how many may come at once (default: `requests`).

use std::time::Duration;

use serde::Deserialize;

use crate::units::HumanDuration;

/// The longest `window`: a year.
const MAX_WINDOW: Duration = Duration::from_secs(365 * 24 * 3600);

/// The shortest gap between requests a limit may sustain: rates finer than this would be
/// rounded too coarsely to hold.
const MIN_INTERVAL_MS: u64 = 10;

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
        let window = self.window.0;
        if window < Duration::from_secs(1) || window > MAX_WINDOW || window.subsec_nanos() != 0 {
            return Err(format!(
                "`window` must be a whole number of seconds from 1s to {}h",
                MAX_WINDOW.as_secs() / 3600
            ));
        }
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        if window_ms / u64::from(self.requests) < MIN_INTERVAL_MS {
            return Err(format!(
                "{} requests per {}s is more than one per {MIN_INTERVAL_MS} ms, finer than limits are kept; allow fewer requests or a longer window",
                self.requests,
                window.as_secs()
            ));
        }
        let burst = self.burst.unwrap_or(self.requests);
        if burst == 0 {
            return Err("`burst` must be at least 1".into());
        }
        // A full bucket takes `burst` intervals (rounded up, as the limiter rounds them) to
        // earn back; keep that within a year, far inside what the shared table can hold.
        let refill_ms =
            u128::from(burst) * u128::from(window_ms.div_ceil(u64::from(self.requests)));
        if refill_ms > MAX_WINDOW.as_millis() {
            return Err(format!(
                "`burst` {burst} would take more than a year to earn back at {} per {}s; lower it",
                self.requests,
                window.as_secs()
            ));
        }
        Ok(RateLimit {
            per: self.per,
            requests: self.requests,
            window: self.window.0,
            burst,
        })
    }
}
