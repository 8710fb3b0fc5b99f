//! Key-value stores (`nimbus:platform/key-value`): [`Store::open`] opens a store the manifest
//! grants with `key_value = ["NAME"]`; any other name is [`Error::AccessDenied`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::nimbus::platform::key_value as wit;
use crate::{Error, Result};

pub use wit::Store;

impl Store {
    /// The value as JSON; `other` (500 through `?`) when the stored value does not parse as
    /// `T`: the store's content is at fault, not the request.
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Other(format!("`{key}` does not hold the JSON expected: {e}"))),
        }
    }

    pub fn set_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::Invalid(format!("cannot encode `{key}`: {e}")))?;
        self.set(key, &bytes)
    }

    /// Every key starting with `prefix`, in order (fetched a page at a time, returned at once).
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.list_keys(prefix, cursor.as_deref())?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// Every (key, value) starting with `prefix`, in order (returned at once).
    pub fn entries(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let mut entries = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.list_entries(prefix, cursor.as_deref(), 1000)?;
            entries.extend(page.entries);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(entries),
            }
        }
    }
}
