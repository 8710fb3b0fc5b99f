//! The nimbus key-value service.
//!
//! [`KvStore`] is the contract every backend keeps, asynchronous so that a networked backend
//! (PostgreSQL) fits it as well as the embedded one; [`RedbKvStore`] is the embedded backend
//! used by `nimbus up`. Data is namespaced by [`StoreId`] (app + store name), so two apps, or
//! two stores of one app, never see each other's keys.
//!
//! ```
//! use nimbus_kv::{KvStore, RedbKvStore, StoreId};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let kv = RedbKvStore::open(&dir.path().join("kv.redb")).unwrap();
//! let store = StoreId::new("todo", "todos");
//! kv.set(&store, "a", b"1").await.unwrap();
//! assert_eq!(kv.get(&store, "a").await.unwrap().as_deref(), Some(&b"1"[..]));
//! # });
//! ```
#![deny(missing_docs)]

mod batch;
mod error;
mod redb_backend;
pub mod remote;

use std::time::Duration;

pub use batch::{Batch, BatchOp, Condition, validate_ttl};
pub use error::KvError;
pub use redb_backend::RedbKvStore;
pub use remote::RemoteKvStore;

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value accepted, in bytes.
pub const MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;
/// Most keys returned by one [`KvStore::list_keys`] call.
pub const LIST_PAGE_SIZE: usize = 1000;
/// Most operations in one [`Batch`].
pub const MAX_BATCH_OPS: usize = 64;
/// Most bytes of values one [`Batch`] writes and compares: a compare-and-swap of two maximal
/// values.
pub const MAX_BATCH_BYTES: usize = 2 * MAX_VALUE_BYTES;
/// Longest time-to-live accepted: ten years, far beyond any cache or session.
pub const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Names one store of one app: the unit of namespacing and of grants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct StoreId {
    /// The `[app] name` of the manifest.
    pub app: String,
    /// The store name, as granted by `key_value = [...]`.
    pub store: String,
}

impl StoreId {
    /// Builds a store id from an app name and a store name.
    pub fn new(app: impl Into<String>, store: impl Into<String>) -> Self {
        Self {
            app: app.into(),
            store: store.into(),
        }
    }
}

/// One page of keys from [`KvStore::list_keys`].
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct KeyPage {
    /// Keys in ascending byte order.
    pub keys: Vec<String>,
    /// Pass back as `cursor` to get the next page; `None` when the listing is complete.
    pub cursor: Option<String>,
}

/// One page of keys and their values from [`KvStore::scan`].
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct EntryPage {
    /// Entries in ascending key order.
    pub entries: Vec<(String, Vec<u8>)>,
    /// Pass back as `cursor` to get the next page; `None` when the scan is complete.
    pub cursor: Option<String>,
}

/// What [`KvStore::snapshot`] calls with each key and value; an error stops the scan.
pub type SnapshotVisitor<'a> = dyn FnMut(&str, &[u8]) -> Result<(), KvError> + Send + 'a;

/// Reads answered in the caller's thread without waiting, for callers that cannot await (a
/// guest's synchronous import). Only a backend whose reads never wait offers them.
pub trait InlineReads: Send + Sync {
    /// The value under `key`, or `None`, as [`KvStore::get`].
    fn get_now(&self, store: &StoreId, key: &str) -> Result<Option<Vec<u8>>, KvError>;
}

/// A key-value backend. Every write that returns `Ok` is durable. An entry whose time-to-live
/// has passed is absent for every operation, whether or not it was purged yet.
#[async_trait::async_trait]
pub trait KvStore: Send + Sync + 'static {
    /// The value under `key`, or `None`.
    async fn get(&self, store: &StoreId, key: &str) -> Result<Option<Vec<u8>>, KvError>;

    /// The same reads without a future, if this backend answers them without waiting (an
    /// embedded store does; one across a socket or a network does not).
    fn inline_reads(&self) -> Option<&dyn InlineReads> {
        None
    }

    /// Removes `key`; returns whether there was a value to remove.
    async fn delete(&self, store: &StoreId, key: &str) -> Result<bool, KvError>;

    /// Keys starting with `prefix`, after `cursor` when given, at most [`LIST_PAGE_SIZE`].
    async fn list_keys(
        &self,
        store: &StoreId,
        prefix: &str,
        cursor: Option<&str>,
    ) -> Result<KeyPage, KvError>;

    /// Entries whose keys start with `prefix`, after `cursor` when given, in key order; at
    /// most `limit` (and at most [`LIST_PAGE_SIZE`]) entries and about [`MAX_VALUE_BYTES`] of
    /// values per page.
    async fn scan(
        &self,
        store: &StoreId,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<EntryPage, KvError>;

    /// Adds `delta` to the integer stored as decimal text under `key` (absent counts as 0),
    /// atomically, and returns the new value. A time-to-live on the key is kept.
    async fn increment(&self, store: &StoreId, key: &str, delta: i64) -> Result<i64, KvError>;

    /// Applies every operation of `batch` in one transaction, only if all its conditions hold
    /// when it commits; returns whether it did. Nothing is written when it returns `false`.
    async fn apply(&self, batch: Batch) -> Result<bool, KvError>;

    /// Calls `visit` with every key of `store` and its value, all read from one consistent
    /// snapshot, so that an entry moved from one key to another while the scan runs is seen
    /// exactly once. Backends that cannot take a snapshot refuse with [`KvError::Storage`].
    async fn snapshot(
        &self,
        store: &StoreId,
        visit: &mut SnapshotVisitor<'_>,
    ) -> Result<(), KvError>;

    /// Removes up to `limit` entries whose time-to-live has passed; returns how many. Only
    /// the process that owns the store purges.
    async fn purge_expired(&self, limit: usize) -> Result<usize, KvError>;

    /// Writes a consistent copy of every store to the new file `to` (an absolute path, which
    /// must not exist), while the store goes on serving. Backends that cannot refuse with
    /// [`KvError::Storage`].
    async fn backup(&self, to: &std::path::Path) -> Result<(), KvError> {
        Err(KvError::Storage(format!(
            "this key-value backend cannot write a backup to {}",
            to.display()
        )))
    }

    /// Stores `value` under `key`, replacing any previous value (and its time-to-live).
    async fn set(&self, store: &StoreId, key: &str, value: &[u8]) -> Result<(), KvError> {
        let batch = Batch::new().put(store, key, value.to_vec());
        self.apply(batch).await.map(drop)
    }

    /// Stores `value` under `key` until `ttl` from now, replacing any previous value.
    async fn set_expiring(
        &self,
        store: &StoreId,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), KvError> {
        let batch = Batch::new().put_expiring(store, key, value.to_vec(), ttl);
        self.apply(batch).await.map(drop)
    }

    /// Whether `key` holds a value.
    async fn exists(&self, store: &StoreId, key: &str) -> Result<bool, KvError> {
        Ok(self.get(store, key).await?.is_some())
    }

    /// Writes `new` only if the current value equals `expected` (`None`: the key is absent).
    /// Returns whether it wrote.
    async fn compare_and_swap(
        &self,
        store: &StoreId,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        if expected.is_some_and(|old| old.len() > MAX_VALUE_BYTES) {
            // No stored value is that large, so it cannot match.
            return Ok(false);
        }
        let condition = expected.map_or(Condition::Absent, |old| Condition::Equals(old.to_vec()));
        let batch = Batch::new()
            .check(store, key, condition)
            .put(store, key, new.to_vec());
        self.apply(batch).await
    }

    /// Removes `key` only if its current value equals `expected`; returns whether it did.
    async fn compare_and_delete(
        &self,
        store: &StoreId,
        key: &str,
        expected: &[u8],
    ) -> Result<bool, KvError> {
        if expected.len() > MAX_VALUE_BYTES {
            return Ok(false);
        }
        let batch = Batch::new()
            .check(store, key, Condition::Equals(expected.to_vec()))
            .delete(store, key);
        self.apply(batch).await
    }
}

/// Checks a key against the limits every backend enforces.
pub fn validate_key(key: &str) -> Result<(), KvError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(KvError::Invalid(format!(
            "key is {} bytes; the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

/// Checks a value against the limits every backend enforces.
pub fn validate_value(value: &[u8]) -> Result<(), KvError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(KvError::Invalid(format!(
            "value is {} bytes; the limit is {MAX_VALUE_BYTES}",
            value.len()
        )));
    }
    Ok(())
}

/// Parses a counter stored by [`KvStore::increment`] and adds `delta`.
pub fn add_to_counter(current: Option<&[u8]>, delta: i64) -> Result<i64, KvError> {
    let current = match current {
        None => 0,
        Some(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                KvError::Invalid("value is not an integer in decimal text".to_string())
            })?,
    };
    current
        .checked_add(delta)
        .ok_or_else(|| KvError::Invalid("increment overflows a 64-bit integer".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_starts_at_zero_and_adds() {
        assert_eq!(add_to_counter(None, 5).ok(), Some(5));
        assert_eq!(add_to_counter(Some(b"41"), 1).ok(), Some(42));
        assert_eq!(add_to_counter(Some(b"-3"), -2).ok(), Some(-5));
    }

    #[test]
    fn counter_rejects_text_and_overflow() {
        assert!(add_to_counter(Some(b"abc"), 1).is_err());
        assert!(add_to_counter(Some(i64::MAX.to_string().as_bytes()), 1).is_err());
    }

    #[test]
    fn keys_and_values_over_the_limit_are_invalid() {
        assert!(validate_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert!(validate_key(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
        assert!(validate_value(&vec![0; MAX_VALUE_BYTES + 1]).is_err());
    }
}
