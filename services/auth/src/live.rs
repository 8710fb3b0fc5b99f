//! Sessions this process confirmed live a moment ago. An access token is honoured only while
//! its session exists (a sign-out or a revoked refresh ends it), and this keeps that check to
//! one store read per session per [`RECHECK_AFTER`], so a busy guarded route does not pay a
//! read on every request. A session ended in this process is forgotten at once; one ended in
//! another process of the host stops working here within [`RECHECK_AFTER`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a confirmation stands.
pub const RECHECK_AFTER: Duration = Duration::from_secs(1);

/// Most sessions remembered; past it, stale entries go, and if that is not enough, all.
const CAPACITY: usize = 10_000;

/// How long an ended session is remembered as ended: far longer than a store read that began
/// before it ended can take to come back and try to confirm it.
const ENDED_FOR: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct LiveSessions {
    confirmed: Mutex<HashMap<String, Instant>>,
    ended: Mutex<HashMap<String, Instant>>,
}

impl LiveSessions {
    /// Whether `session_id` was confirmed live less than [`RECHECK_AFTER`] ago.
    pub fn recently_live(&self, session_id: &str) -> bool {
        self.confirmed.lock().is_ok_and(|confirmed| {
            confirmed
                .get(session_id)
                .is_some_and(|at| at.elapsed() < RECHECK_AFTER)
        })
    }

    /// Records that `session_id` was just read from the store, unless it ended meanwhile (a
    /// sign-out between the read and this call must not be undone).
    pub fn confirm(&self, session_id: &str) {
        let ended = self
            .ended
            .lock()
            .map_or(true, |ended| ended.contains_key(session_id));
        if ended {
            return;
        }
        let Ok(mut confirmed) = self.confirmed.lock() else {
            return;
        };
        if confirmed.len() >= CAPACITY {
            confirmed.retain(|_, at| at.elapsed() < RECHECK_AFTER);
            if confirmed.len() >= CAPACITY {
                confirmed.clear();
            }
        }
        confirmed.insert(session_id.to_string(), Instant::now());
    }

    /// Drops what is known of `session_id`: it just ended.
    pub fn forget(&self, session_id: &str) {
        if let Ok(mut ended) = self.ended.lock() {
            if ended.len() >= CAPACITY {
                ended.retain(|_, at| at.elapsed() < ENDED_FOR);
            }
            ended.insert(session_id.to_string(), Instant::now());
        }
        if let Ok(mut confirmed) = self.confirmed.lock() {
            confirmed.remove(session_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confirmation_stands_until_forgotten_or_stale() {
        let live = LiveSessions::default();
        assert!(!live.recently_live("s"));
        live.confirm("s");
        assert!(live.recently_live("s"));
        live.forget("s");
        assert!(!live.recently_live("s"));
        // A read that began before the sign-out cannot bring the session back.
        live.confirm("s");
        assert!(!live.recently_live("s"));
        live.confirmed
            .lock()
            .expect("lock")
            .insert("old".into(), Instant::now() - RECHECK_AFTER);
        assert!(!live.recently_live("old"));
    }
}
