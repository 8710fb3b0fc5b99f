//! The one factory that opens backends. Which backends serve is runtime configuration (flags
//! and environment), separate from the app's manifest; the embedded default (redb and local
//! files under the data directory) needs none. No other host module names a backend type.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use nimbus_auth::{AuthConfig, AuthService};
use nimbus_kv::{KvStore, RedbKvStore, RemoteKvStore};
use nimbus_limits::{RateLimiter, SharedLimiter};
use nimbus_objects::{LocalObjectStore, ObjectStore};

use crate::manifest::Manifest;

/// Where the key-value service lives for this process.
#[derive(Debug, Clone)]
pub enum KvLocation {
    /// This process opens `DATA/kv.redb` itself.
    Owned,
    /// Another process of the same host owns it and serves it on this Unix socket.
    Remote(PathBuf),
}

/// How this process reaches its backends and where it keeps what it derives.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The data directory: key-value stores, objects, and by default the compiled-code cache.
    pub data_dir: PathBuf,
    /// Where compiled code is cached; `DATA/cache` unless given.
    pub cache_dir: Option<PathBuf>,
    /// The key-value service.
    pub kv: KvLocation,
}

impl RuntimeConfig {
    /// The embedded default: everything under `data_dir`, owned by this process.
    pub fn embedded(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            cache_dir: None,
            kv: KvLocation::Owned,
        }
    }

    /// Where compiled code is cached.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("cache"))
    }
}

/// The backends every app version of a host uses.
#[derive(Clone)]
pub struct Backends {
    /// Key-value stores (also where auth and object metadata live).
    pub kv: Arc<dyn KvStore>,
    /// Object bodies and their metadata.
    pub objects: Arc<dyn ObjectStore>,
}

/// The key-value store `location` names, for data under `data_dir`.
pub fn open_kv(location: &KvLocation, data_dir: &Path) -> anyhow::Result<Arc<dyn KvStore>> {
    Ok(match location {
        KvLocation::Owned => {
            let kv_path = data_dir.join("kv.redb");
            Arc::new(RedbKvStore::open(&kv_path).with_context(|| {
                format!("cannot open the key-value store {}", kv_path.display())
            })?)
        }
        KvLocation::Remote(socket) => Arc::new(RemoteKvStore::new(socket)),
    })
}

/// Opens the backends `config` names.
pub fn open(config: &RuntimeConfig) -> anyhow::Result<Backends> {
    let kv = open_kv(&config.kv, &config.data_dir)?;
    let objects: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(
        config.data_dir.join("objects"),
        Arc::clone(&kv),
    ));
    Ok(Backends { kv, objects })
}

/// The rate-limit table every process of the host maps: made fresh by the process that owns
/// the data, mapped by the worker processes it starts.
pub fn open_limits(config: &RuntimeConfig) -> anyhow::Result<Arc<dyn RateLimiter>> {
    let path = config.data_dir.join("limits.shm");
    let limiter = match config.kv {
        KvLocation::Owned => SharedLimiter::create(&path),
        KvLocation::Remote(_) => SharedLimiter::open(&path),
    };
    Ok(Arc::new(
        limiter.context("cannot set up the shared rate limits")?,
    ))
}

/// The auth service of `manifest`'s app, kept in `kv`.
pub async fn open_auth(manifest: &Manifest, kv: Arc<dyn KvStore>) -> anyhow::Result<AuthService> {
    let mut config = AuthConfig::new(&manifest.app);
    config.access_token_ttl = manifest.access_token_ttl;
    AuthService::open(kv, config)
        .await
        .context("cannot open the auth service")
}
