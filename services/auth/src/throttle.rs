//! Abuse limits on login: a growing lock-out per account after repeated failures (kept in the
//! store, so every process of a host sees it) and a token bucket per client IP.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use crate::AuthError;

/// Failures in a row an account may have before it is locked.
pub const FREE_FAILURES: u32 = 5;
/// Longest lock-out.
pub const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);

/// Failed logins of one account, as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Failures {
    /// Failures since the last success.
    pub count: u32,
    /// No attempt is checked before this (ms since the epoch).
    pub locked_until_ms: u64,
}

impl Failures {
    /// Refuses while locked.
    pub fn check(&self, now_ms: u64) -> Result<(), AuthError> {
        if now_ms < self.locked_until_ms {
            Err(AuthError::Throttled {
                retry_after: Duration::from_millis(self.locked_until_ms - now_ms),
            })
        } else {
            Ok(())
        }
    }

    /// Records one more failure: from the [`FREE_FAILURES`]th on, the account locks for 1 s,
    /// then 2 s, 4 s, ... up to [`MAX_LOCKOUT`].
    pub fn record_failure(&mut self, now_ms: u64) {
        self.count = self.count.saturating_add(1);
        if self.count >= FREE_FAILURES {
            let doublings = (self.count - FREE_FAILURES).min(20);
            let lock = Duration::from_secs(1u64 << doublings).min(MAX_LOCKOUT);
            self.locked_until_ms = now_ms + lock.as_millis() as u64;
        }
    }
}

/// Token bucket per client address, on the auth endpoints that check passwords or mint
/// sessions.
pub struct IpLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl IpLimiter {
    /// `burst` requests at once, refilled at `per_minute`.
    pub fn new(burst: u32, per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
        }
    }

    /// Takes one token for `ip`, or says how long until there is one.
    pub fn check(&self, ip: IpAddr) -> Result<(), AuthError> {
        self.limiter
            .check_key(&ip)
            .map_err(|not_until| AuthError::Throttled {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })?;
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_starts_after_free_failures_and_grows() {
        let mut failures = Failures::default();
        for _ in 0..FREE_FAILURES - 1 {
            failures.record_failure(0);
            assert!(failures.check(0).is_ok());
        }
        failures.record_failure(0);
        assert!(failures.check(999).is_err());
        assert!(failures.check(1000).is_ok());
        failures.record_failure(1000);
        assert!(failures.check(2999).is_err());
        for _ in 0..40 {
            failures.record_failure(0);
        }
        assert_eq!(failures.locked_until_ms, MAX_LOCKOUT.as_millis() as u64);
    }

    #[test]
    fn the_ip_bucket_empties_and_names_the_wait() {
        let limiter = IpLimiter::new(3, 1);
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..3 {
            assert!(limiter.check(ip).is_ok());
        }
        match limiter.check(ip) {
            Err(AuthError::Throttled { retry_after }) => assert!(retry_after > Duration::ZERO),
            other => panic!("expected a throttle, got {other:?}"),
        }
        assert!(
            limiter.check([10, 0, 0, 2].into()).is_ok(),
            "other addresses unaffected"
        );
    }
}
