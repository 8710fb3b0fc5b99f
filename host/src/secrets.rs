//! An app's secrets (`nimbus secrets set|list|delete NAME`): values kept in the app's reserved
//! key-value store, read by the components granted them (`secrets = ["NAME"]`) through WIT
//! `config`. The store lives in the owner-only data directory; no value is ever logged.

use std::sync::Arc;

use nimbus_kv::{KvError, KvStore, StoreId};

/// The key-value store (per app) holding secrets. Not a valid manifest store name, so no guest
/// can be granted it.
pub const SECRETS_STORE: &str = "~secrets";
/// Largest secret value, in bytes.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// One app's secrets.
pub struct Secrets {
    kv: Arc<dyn KvStore>,
    store: StoreId,
}

/// Why a secret could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The name or value breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] KvError),
}

impl Secrets {
    /// The secrets of `app`, kept in `kv`.
    pub fn new(kv: Arc<dyn KvStore>, app: &str) -> Self {
        Self {
            kv,
            store: StoreId::new(app, SECRETS_STORE),
        }
    }

    /// The value of secret `name`, if set.
    pub async fn get(&self, name: &str) -> Result<Option<String>, SecretError> {
        let value = self.kv.get(&self.store, name).await?;
        Ok(value.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Sets secret `name` to `value`.
    pub async fn set(&self, name: &str, value: &str) -> Result<(), SecretError> {
        check_name(name)?;
        if value.len() > MAX_SECRET_BYTES {
            return Err(SecretError::Invalid(format!(
                "the value is {} bytes; a secret holds at most {MAX_SECRET_BYTES}",
                value.len()
            )));
        }
        Ok(self.kv.set(&self.store, name, value.as_bytes()).await?)
    }

    /// Removes secret `name`; returns whether it was set.
    pub async fn delete(&self, name: &str) -> Result<bool, SecretError> {
        Ok(self.kv.delete(&self.store, name).await?)
    }

    /// The names of every secret that is set, in order.
    pub async fn names(&self) -> Result<Vec<String>, SecretError> {
        let mut names = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .kv
                .list_keys(&self.store, "", cursor.as_deref())
                .await?;
            names.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(names),
            }
        }
    }
}

fn check_name(name: &str) -> Result<(), SecretError> {
    crate::manifest::SecretName::try_from(name.to_string())
        .map(drop)
        .map_err(SecretError::Invalid)
}
