//! The app's secret (service-role) key: what trusted servers present to the APIs that act for
//! the app itself rather than for a user (queues, administration). Only its SHA-256 hash is
//! stored, so a copy of the store does not hold a usable key; the key itself is shown once,
//! when it is made. Checks read the stored hash at most once a second, so a rotation by any
//! process takes effect within a second.

use std::sync::Mutex;

use nimbus_kv::Condition;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::{AuthError, AuthService, now_ms, random};

/// Where the hash of the secret key is stored.
pub(crate) const SECRET_KEY_HASH: &str = "secret-key-hash";
/// How long a read of the stored hash is trusted.
const RECHECK_MS: u64 = 1000;
/// What every secret key starts with, so a leaked one is recognisable (and scannable).
pub const SECRET_KEY_PREFIX: &str = "nb_secret_";

/// The stored hash as last read, and when.
#[derive(Default)]
pub(crate) struct SecretKeyCache(Mutex<Option<(u64, Option<Vec<u8>>)>>);

fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

fn fresh_key() -> Result<String, AuthError> {
    Ok(format!("{SECRET_KEY_PREFIX}{}", random::token()?))
}

impl AuthService {
    /// Makes the app's secret key if it has none, and returns it then; `None` when one exists
    /// (it cannot be shown again: rotate it to get a new one).
    pub async fn create_secret_key(&self) -> Result<Option<String>, AuthError> {
        let key = fresh_key()?;
        let batch = nimbus_kv::Batch::new()
            .check(&self.store, SECRET_KEY_HASH, Condition::Absent)
            .put(&self.store, SECRET_KEY_HASH, hash(&key));
        let created = self.kv.apply(batch).await?;
        self.forget_secret_key_hash();
        Ok(created.then_some(key))
    }

    /// Replaces the app's secret key with a new one and returns it; the old one stops working
    /// (within a second in every process).
    pub async fn rotate_secret_key(&self) -> Result<String, AuthError> {
        let key = fresh_key()?;
        self.kv
            .set(&self.store, SECRET_KEY_HASH, &hash(&key))
            .await?;
        self.forget_secret_key_hash();
        Ok(key)
    }

    /// Whether `candidate` is the app's secret key (compared as hashes, in constant time).
    pub async fn is_secret_key(&self, candidate: &str) -> Result<bool, AuthError> {
        if !candidate.starts_with(SECRET_KEY_PREFIX) {
            return Ok(false);
        }
        let stored = self.secret_key_hash().await?;
        Ok(stored.is_some_and(|stored| bool::from(stored.ct_eq(&hash(candidate)))))
    }

    async fn secret_key_hash(&self) -> Result<Option<Vec<u8>>, AuthError> {
        let now = now_ms();
        if let Ok(cached) = self.secret_key.0.lock()
            && let Some((read_at, hash)) = cached.as_ref()
            && now.saturating_sub(*read_at) < RECHECK_MS
        {
            return Ok(hash.clone());
        }
        let stored = self.kv.get(&self.store, SECRET_KEY_HASH).await?;
        if let Ok(mut cached) = self.secret_key.0.lock() {
            *cached = Some((now, stored.clone()));
        }
        Ok(stored)
    }

    fn forget_secret_key_hash(&self) {
        if let Ok(mut cached) = self.secret_key.0.lock() {
            *cached = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use nimbus_kv::RedbKvStore;

    use crate::{AuthConfig, AuthService};

    #[tokio::test]
    async fn the_secret_key_is_shown_once_checked_by_hash_and_rotated() {
        let dir = tempfile::tempdir().expect("dir");
        let kv = Arc::new(RedbKvStore::open(&dir.path().join("kv.redb")).expect("kv"));
        let auth = AuthService::open(kv.clone(), AuthConfig::new("todo"))
            .await
            .expect("auth");
        assert!(!auth.is_secret_key("nb_secret_guess").await.expect("check"));
        let key = auth
            .create_secret_key()
            .await
            .expect("create")
            .expect("made now");
        assert!(auth.create_secret_key().await.expect("again").is_none());
        assert!(auth.is_secret_key(&key).await.expect("check"));
        assert!(
            !auth
                .is_secret_key(&key[..key.len() - 1])
                .await
                .expect("check")
        );
        // Only the hash is stored.
        let stored = nimbus_kv::KvStore::get(
            kv.as_ref(),
            &nimbus_kv::StoreId::new("todo", crate::AUTH_STORE),
            super::SECRET_KEY_HASH,
        )
        .await
        .expect("read")
        .expect("stored");
        assert_ne!(stored, key.as_bytes());
        let rotated = auth.rotate_secret_key().await.expect("rotate");
        assert!(!auth.is_secret_key(&key).await.expect("check"));
        assert!(auth.is_secret_key(&rotated).await.expect("check"));
        // The publishable key is never a secret key.
        let publishable = auth.publishable_key().await.expect("publishable");
        assert!(!auth.is_secret_key(&publishable).await.expect("check"));
    }
}
