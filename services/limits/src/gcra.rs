//! The generic cell rate algorithm: one number per key, the "theoretical arrival time" of the
//! next request, is all the state a token bucket needs.

use std::time::Duration;

/// `burst` requests at once, refilled at one per `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests admitted at once from a full bucket.
    pub burst: u32,
    /// Time to refill one request, in milliseconds.
    pub interval_ms: u64,
}

impl Quota {
    /// `burst` at once, refilled at `per_minute` (at least 1 each).
    pub fn per_minute(burst: u32, per_minute: u32) -> Self {
        Self {
            burst: burst.max(1),
            interval_ms: (60_000 / u64::from(per_minute.max(1))).max(1),
        }
    }

    /// `burst` at once, `count` per `window` (at least 1 each).
    pub fn per_window(burst: u32, count: u32, window: Duration) -> Self {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        Self {
            burst: burst.max(1),
            // Rounded up: a limit may come out a little stricter than asked, never looser.
            interval_ms: window_ms.div_ceil(u64::from(count.max(1))).max(1),
        }
    }

    /// Decides one request at `now` (milliseconds) for a key whose stored arrival time is
    /// `tat` (`None` for a key not seen): the new arrival time to store, or how long to wait.
    pub fn decide(&self, tat: Option<u64>, now: u64) -> Result<u64, Duration> {
        let tat = tat.unwrap_or(now).max(now);
        let tolerance = self.interval_ms.saturating_mul(u64::from(self.burst));
        let next = tat.saturating_add(self.interval_ms);
        let allowed_at = next.saturating_sub(tolerance);
        if allowed_at > now {
            return Err(Duration::from_millis(allowed_at - now));
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(quota: Quota, times: &[u64]) -> Vec<bool> {
        let mut tat = None;
        times
            .iter()
            .map(|&now| match quota.decide(tat, now) {
                Ok(next) => {
                    tat = Some(next);
                    true
                }
                Err(_) => false,
            })
            .collect()
    }

    #[test]
    fn a_full_bucket_admits_its_burst_then_refills_steadily() {
        let quota = Quota::per_minute(3, 30); // one every 2 s
        assert_eq!(
            run(quota, &[0, 0, 0, 0, 1_999, 2_000, 2_000]),
            vec![true, true, true, false, false, true, false]
        );
    }

    #[test]
    fn the_wait_is_until_the_next_request_would_be_admitted() {
        let quota = Quota::per_minute(1, 60);
        let tat = quota.decide(None, 10_000).expect("first");
        assert_eq!(
            quota.decide(Some(tat), 10_250),
            Err(Duration::from_millis(750))
        );
        assert!(quota.decide(Some(tat), 11_000).is_ok());
    }

    #[test]
    fn a_quota_is_never_unlimited() {
        assert_eq!(Quota::per_minute(1, u32::MAX).interval_ms, 1);
        assert_eq!(
            Quota::per_window(1, u32::MAX, Duration::from_secs(1)).interval_ms,
            1
        );
    }

    #[test]
    fn an_idle_key_starts_full_again() {
        let quota = Quota::per_minute(2, 60);
        assert_eq!(
            run(quota, &[0, 0, 0, 600_000, 600_000, 600_000]),
            vec![true, true, false, true, true, false]
        );
    }
}
