//! Event ids: 16 hex digits that grow with time in each process (so that the events of one
//! key, published by one process, sort in the order they were made) and 8 random ones (so
//! that ids made by different processes in the same instant differ).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::QueueError;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

static LAST: AtomicU64 = AtomicU64::new(0);

/// A new event id, greater than every id this process made before.
pub fn new_id() -> Result<String, QueueError> {
    // Milliseconds in the high bits, a counter in the low 20: a million ids per millisecond.
    let from_clock = now_ms() << 20;
    let mut previous = LAST.load(Ordering::Relaxed);
    let next = loop {
        let next = from_clock.max(previous + 1);
        match LAST.compare_exchange_weak(previous, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(now) => previous = now,
        }
    };
    let mut random = [0u8; 4];
    getrandom::fill(&mut random)
        .map_err(|e| QueueError::Storage(format!("no randomness for an event id: {e}")))?;
    Ok(format!("{next:016x}{}", hex::encode(random)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_grow_and_differ() -> Result<(), QueueError> {
        let mut last = new_id()?;
        for _ in 0..10_000 {
            let next = new_id()?;
            assert!(next[..16] > last[..16], "{next} after {last}");
            assert_eq!(next.len(), 24);
            last = next;
        }
        Ok(())
    }
}
