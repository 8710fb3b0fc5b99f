//! Platform interfaces offered to guests, one module per interface, each linked only into
//! components whose manifest grants it.

pub mod auth;
pub mod kv;
pub mod objects;
pub mod outbound;
pub mod wasi;

use std::sync::Arc;

use nimbus_auth::AuthService;
use nimbus_kv::KvStore;
use nimbus_objects::{ObjectStore, UrlSigner};

use crate::bindings::types;

/// The app's services, from which each component gets the part its grants allow.
#[derive(Clone)]
pub struct Services {
    /// Key-value stores.
    pub kv: Arc<dyn KvStore>,
    /// Users and tokens.
    pub auth: Arc<AuthService>,
    /// Buckets.
    pub objects: Arc<dyn ObjectStore>,
    /// Signed object URLs.
    pub signer: Arc<UrlSigner>,
}

/// A guest-visible failure of a platform call, converted into the WIT `error` at the boundary.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The manifest does not grant this; the message names the key that would.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// No such thing.
    #[error("not found")]
    NotFound,
    /// The guest's input breaks a rule.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The backend failed; details go to the host log, not the guest.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A host bug or resource-table failure: this traps the instance.
    #[error(transparent)]
    Trap(#[from] wasmtime::Error),
}

impl PlatformError {
    /// The WIT value for this error, or a trap for host failures.
    pub fn into_wit(self) -> wasmtime::Result<types::Error> {
        match self {
            PlatformError::AccessDenied(why) => Ok(types::Error::AccessDenied(why)),
            PlatformError::NotFound => Ok(types::Error::NotFound),
            PlatformError::Invalid(why) => Ok(types::Error::Invalid(why)),
            PlatformError::Unavailable(why) => Ok(types::Error::Unavailable(why)),
            PlatformError::Trap(error) => Err(error),
        }
    }
}

impl From<wasmtime::component::ResourceTableError> for PlatformError {
    fn from(error: wasmtime::component::ResourceTableError) -> Self {
        PlatformError::Trap(error.into())
    }
}
