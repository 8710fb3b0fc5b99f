//! Sessions and their refresh tokens.
//!
//! A refresh token is `{session-id}.{256 random bits}`. The session stores only the SHA-256 of
//! its current token and of the ones it replaced. Presenting the current token rotates it;
//! presenting a replaced one means a copy of it leaked, so the whole session (the token family)
//! is revoked.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::{AuthError, random};

/// Replaced token hashes remembered per session for reuse detection.
pub const REMEMBERED_TOKENS: usize = 64;

/// A session as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Whose session it is.
    pub user_id: String,
    /// Milliseconds since the epoch.
    pub created_at_ms: u64,
    /// SHA-256 (hex) of the refresh token that may be used next.
    pub current_hash: String,
    /// Hashes of tokens already used, newest last.
    #[serde(default)]
    pub previous: Vec<String>,
}

/// What a presented refresh token turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    /// The session's current token.
    Current,
    /// A token this session already rotated away: reuse.
    Replaced,
    /// Not one of this session's tokens.
    Unknown,
}

/// A fresh refresh token for `session_id`, and its hash.
pub fn new_refresh_token(session_id: &str) -> Result<(String, String), AuthError> {
    let token = format!("{session_id}.{}", random::token()?);
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The session id a refresh token claims to belong to.
pub fn session_of(token: &str) -> Option<&str> {
    token
        .split_once('.')
        .map(|(session, _)| session)
        .filter(|s| !s.is_empty() && s.len() <= 64)
}

/// SHA-256 of a token, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl SessionRecord {
    /// Classifies `token`, comparing hashes in constant time.
    pub fn classify(&self, token: &str) -> Presented {
        let hash = token_hash(token);
        if bool::from(hash.as_bytes().ct_eq(self.current_hash.as_bytes())) {
            return Presented::Current;
        }
        let replaced = self.previous.iter().fold(false, |found, old| {
            found | bool::from(hash.as_bytes().ct_eq(old.as_bytes()))
        });
        if replaced {
            Presented::Replaced
        } else {
            Presented::Unknown
        }
    }

    /// Makes `new_hash` current, remembering the old one.
    pub fn rotate(&mut self, new_hash: String) {
        let old = std::mem::replace(&mut self.current_hash, new_hash);
        self.previous.push(old);
        if self.previous.len() > REMEMBERED_TOKENS {
            let excess = self.previous.len() - REMEMBERED_TOKENS;
            self.previous.drain(..excess);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_turns_the_current_token_into_a_replaced_one() {
        let (first, first_hash) = new_refresh_token("s1").expect("token");
        assert_eq!(session_of(&first), Some("s1"));
        assert!(first.len() > 43, "at least 256 bits of randomness");
        let mut record = SessionRecord {
            user_id: "u".into(),
            created_at_ms: 0,
            current_hash: first_hash,
            previous: vec![],
        };
        assert_eq!(record.classify(&first), Presented::Current);
        let (second, second_hash) = new_refresh_token("s1").expect("token");
        record.rotate(second_hash);
        assert_eq!(record.classify(&first), Presented::Replaced);
        assert_eq!(record.classify(&second), Presented::Current);
        assert_eq!(record.classify("s1.forged"), Presented::Unknown);
        assert!(
            !serde_json::to_string(&record)
                .expect("json")
                .contains(&second)
        );
    }
}
