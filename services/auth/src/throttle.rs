//! Abuse limits on login: a growing lock-out per account after repeated failures, kept in the
//! store so that every process of a host sees it. (The per-address bucket on the auth
//! endpoints is the host's shared rate limiter, configured by [`crate::AuthConfig`].)

use std::time::Duration;

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
}
