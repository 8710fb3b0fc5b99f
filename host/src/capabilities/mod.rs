//! Platform interfaces offered to guests. Each capability is one module that declares, in one
//! place, the WIT interfaces it offers and the manifest key that grants each
//! ([`Interface`]), how it links, and the per-component state it builds from the grant (a
//! field of [`Grants`]); every invocation gets a cheap clone of its component's grants. Loading
//! checks imports against [`platform_interfaces`] and links only what is granted, so adding a
//! capability means a module, a line in that table and a field here, besides its manifest key.
//!
//! `outbound` and `wasi` are the baseline every component gets (powerless WASI, outbound HTTP
//! filtered by `allowed_outbound_hosts`).

pub mod auth;
pub mod config;
pub mod kv;
pub mod objects;
pub mod outbound;
pub mod queue;
pub mod wasi;

use std::sync::Arc;

use nimbus_auth::AuthService;
use nimbus_kv::KvStore;
use nimbus_objects::{ObjectStore, UrlSigner};
use wasmtime::component::{Linker, ResourceTable};

use crate::bindings::types;
use crate::manifest::{ComponentSpec, Manifest};

/// A platform interface a capability offers.
pub struct Interface<T: 'static> {
    /// Its WIT name without the version, e.g. `nimbus:platform/key-value`.
    pub name: &'static str,
    /// The manifest line that grants it, for load errors.
    pub grant: &'static str,
    /// Whether `spec` is granted it.
    pub granted: fn(&ComponentSpec) -> bool,
    /// Adds it to a component's linker, which may link differently for different backends.
    pub link: fn(&mut Linker<T>, &Services) -> wasmtime::Result<()>,
}

/// Every platform interface, from every capability module.
pub fn platform_interfaces<T: CapabilityHost>() -> Vec<Interface<T>> {
    [
        kv::interfaces::<T>(),
        objects::interfaces::<T>(),
        auth::interfaces::<T>(),
        config::interfaces::<T>(),
        queue::interfaces::<T>(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// What one component's grants allow it, built once at load by each capability module.
#[derive(Clone)]
pub struct Grants {
    /// Its key-value stores.
    pub kv: kv::KvCtx,
    /// Its buckets.
    pub objects: objects::ObjectsCtx,
    /// Its access to the app's users.
    pub auth: auth::AuthCtx,
    /// Its declared config and granted secrets.
    pub config: config::ConfigCtx,
    /// The queues it may publish to.
    pub queue: queue::QueueCtx,
}

impl Grants {
    /// The grants of `spec`, served by `services`.
    pub fn configure(manifest: &Manifest, spec: &ComponentSpec, services: &Services) -> Self {
        Self {
            kv: kv::configure(manifest, spec, services),
            objects: objects::configure(manifest, spec, services),
            auth: auth::configure(spec, services),
            config: config::configure(spec, services),
            queue: queue::configure(spec, services),
        }
    }
}

/// Store data that offers the platform interfaces: its component's grants and the
/// invocation's resource table.
pub trait CapabilityHost: Send + 'static {
    /// The grants and the resource table, borrowed together.
    fn capabilities(&mut self) -> (&Grants, &mut ResourceTable);
}

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
    /// Secrets, for the components granted them.
    pub secrets: Arc<crate::secrets::Secrets>,
    /// The app's event log: its queues and the events its triggers wait on.
    pub events: nimbus_queue::EventLog,
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
