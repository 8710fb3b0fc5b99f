//! The nimbus key-value service.
//!
//! [`KvStore`] is the contract every backend keeps; [`RedbKvStore`] is the embedded backend used
//! by `nimbus up`. Data is namespaced by [`StoreId`] (app + store name), so two apps, or two
//! stores of one app, never see each other's keys.
//!
//! ```
//! use nimbus_kv::{KvStore, RedbKvStore, StoreId};
//! let dir = tempfile::tempdir().unwrap();
//! let kv = RedbKvStore::open(&dir.path().join("kv.redb")).unwrap();
//! let store = StoreId::new("todo", "todos");
//! kv.set(&store, "a", b"1").unwrap();
//! assert_eq!(kv.get(&store, "a").unwrap().as_deref(), Some(&b"1"[..]));
//! ```
#![deny(missing_docs)]

mod error;
mod redb_backend;
pub mod remote;

pub use error::KvError;
pub use redb_backend::RedbKvStore;
pub use remote::RemoteKvStore;

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value accepted, in bytes.
pub const MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;
/// Most keys returned by one [`KvStore::list_keys`] call.
pub const LIST_PAGE_SIZE: usize = 1000;

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

/// A key-value backend. Every method is blocking (call it off the async runtime) and every write
/// that returns `Ok` is durable.
pub trait KvStore: Send + Sync + 'static {
    /// The value under `key`, or `None`.
    fn get(&self, store: &StoreId, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Stores `value` under `key`, replacing any previous value.
    fn set(&self, store: &StoreId, key: &str, value: &[u8]) -> Result<(), KvError>;
    /// Removes `key`; removing an absent key is not an error.
    fn delete(&self, store: &StoreId, key: &str) -> Result<(), KvError>;
    /// Whether `key` holds a value.
    fn exists(&self, store: &StoreId, key: &str) -> Result<bool, KvError>;
    /// Keys starting with `prefix`, after `cursor` when given, at most [`LIST_PAGE_SIZE`].
    fn list_keys(
        &self,
        store: &StoreId,
        prefix: &str,
        cursor: Option<&str>,
    ) -> Result<KeyPage, KvError>;
    /// Adds `delta` to the integer stored as decimal text under `key` (absent counts as 0),
    /// atomically, and returns the new value.
    fn increment(&self, store: &StoreId, key: &str, delta: i64) -> Result<i64, KvError>;
    /// Writes `new` only if the current value equals `expected` (`None`: the key is absent).
    /// Returns whether it wrote.
    fn compare_and_swap(
        &self,
        store: &StoreId,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError>;
    /// Calls `visit` with every key of `store` and its value, all read from one consistent
    /// snapshot, so that an entry moved from one key to another while the scan runs is seen
    /// exactly once. Backends that cannot take a snapshot refuse with [`KvError::Storage`].
    fn scan(&self, store: &StoreId, visit: &mut ScanVisitor<'_>) -> Result<(), KvError>;
}

/// What [`KvStore::scan`] calls with each key and value; an error stops the scan.
pub type ScanVisitor<'a> = dyn FnMut(&str, &[u8]) -> Result<(), KvError> + 'a;

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
