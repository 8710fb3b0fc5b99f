//! Tokens that already passed signature verification, by SHA-256 of the whole token, kept
//! until they expire. Only a byte-identical token hits, so nothing about a different (forged or
//! tampered) token is ever taken from here.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use crate::Claims;

/// Most tokens remembered; past it, expired entries go, and if that is not enough, all.
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub struct VerifiedTokens {
    tokens: Mutex<HashMap<[u8; 32], Claims>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl VerifiedTokens {
    /// The claims of `token` if it verified before and its `exp` is after `not_before`.
    pub fn get(&self, token: &str, not_before: u64) -> Option<Claims> {
        let tokens = self.tokens.lock().ok()?;
        tokens
            .get(&digest(token))
            .filter(|claims| claims.exp > not_before)
            .cloned()
    }

    /// Remembers a token that just verified.
    pub fn insert(&self, token: &str, claims: &Claims, now: u64) {
        let Ok(mut tokens) = self.tokens.lock() else {
            return;
        };
        if tokens.len() >= CAPACITY {
            tokens.retain(|_, c| c.exp > now);
            if tokens.len() >= CAPACITY {
                tokens.clear();
            }
        }
        tokens.insert(digest(token), claims.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "s".into(),
            exp,
            iat: 0,
            jti: "j".into(),
            role: "authenticated".into(),
            email: None,
            session_id: "x".into(),
            aal: None,
            is_anonymous: false,
        }
    }

    #[test]
    fn only_the_same_unexpired_token_hits() {
        let cache = VerifiedTokens::default();
        cache.insert("a.b.c", &claims(100), 0);
        assert!(cache.get("a.b.c", 99).is_some());
        assert!(cache.get("a.b.c", 100).is_none(), "expired");
        assert!(cache.get("a.b.d", 0).is_none(), "a different token");
    }

    #[test]
    fn a_full_cache_drops_expired_tokens_first() {
        let cache = VerifiedTokens::default();
        for i in 0..CAPACITY {
            cache.insert(&format!("t{i}"), &claims(if i == 0 { 1000 } else { 10 }), 0);
        }
        cache.insert("new", &claims(1000), 50);
        assert!(cache.get("t0", 50).is_some());
        assert!(cache.get("new", 50).is_some());
        assert!(cache.get("t1", 0).is_none());
    }
}
