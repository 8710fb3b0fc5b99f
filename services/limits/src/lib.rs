//! Rate limits that hold across every process of a host.
//!
//! A limit is a [`Quota`] (a burst, refilled at a steady rate) applied per key within a scope
//! (say, per client address on the auth endpoints). [`SharedLimiter`] keeps one GCRA cell per
//! key in a small memory-mapped file that all worker processes map, updated with atomic
//! compare-and-swap: no process owns it, no request waits on another process, and a check costs
//! a hash and an atomic operation.
#![deny(missing_docs)]

mod gcra;
mod shared;

use std::time::Duration;

pub use gcra::Quota;
pub use shared::{LimitsError, SharedLimiter};

/// Something that admits or refuses requests under quotas.
pub trait RateLimiter: Send + Sync + 'static {
    /// Takes one request of `key` in `scope` under `quota`, or says how long until one would be
    /// admitted.
    fn check(&self, scope: &str, key: &[u8], quota: Quota) -> Result<(), Duration>;
}
