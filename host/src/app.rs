//! An app ready to serve: its manifest, engine, loaded components, routes and services.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use nimbus_auth::{AuthConfig, AuthService};
use nimbus_kv::{KvStore, RedbKvStore, RemoteKvStore};
use nimbus_objects::{LocalObjectStore, ObjectStore, UrlSigner};

use crate::capabilities::Services;
use crate::manifest::{Manifest, RouteAuth};
use crate::routes::Router;
use crate::runtime::{LoadedComponent, Runtime};

/// Where an app keeps its data when `--data` is not given: beside its manifest.
pub const DEFAULT_DATA_DIR: &str = ".nimbus";

/// Where the key-value service lives for this process.
#[derive(Debug, Clone)]
pub enum KvBackend {
    /// This process opens `DATA/kv.redb` itself.
    Owned,
    /// Another process of the same host owns it and serves it on this Unix socket.
    Remote(PathBuf),
}

/// What a route invokes, and whether it needs a bearer token.
#[derive(Debug, Clone, Copy)]
pub struct RouteTarget {
    /// Index into [`App::components`].
    pub component: usize,
    /// The route's `auth`.
    pub auth: RouteAuth,
}

/// A loaded app.
pub struct App {
    /// Its manifest.
    pub manifest: Manifest,
    /// The engine every component runs on.
    pub runtime: Runtime,
    /// Components in manifest order; routes refer to them by index.
    pub components: Vec<Arc<LoadedComponent>>,
    /// Routes of every component.
    pub router: Router<RouteTarget>,
    /// The app's key-value stores, users, buckets and URL signer.
    pub services: Services,
    /// The app's publishable API key (`apikey` header).
    pub api_key: String,
}

impl KvBackend {
    /// The key-value store this backend names, for data under `data_dir`.
    pub fn open(&self, data_dir: &Path) -> anyhow::Result<Arc<dyn KvStore>> {
        Ok(match self {
            KvBackend::Owned => {
                let kv_path = data_dir.join("kv.redb");
                Arc::new(RedbKvStore::open(&kv_path).with_context(|| {
                    format!("cannot open the key-value store {}", kv_path.display())
                })?)
            }
            KvBackend::Remote(socket) => Arc::new(RemoteKvStore::new(socket)),
        })
    }
}

/// The auth service of `manifest`'s app, kept in `kv`.
pub fn open_auth(manifest: &Manifest, kv: Arc<dyn KvStore>) -> anyhow::Result<AuthService> {
    let mut config = AuthConfig::new(&manifest.app);
    config.access_token_ttl = manifest.access_token_ttl;
    AuthService::open(kv, config).context("cannot open the auth service")
}

impl App {
    /// The data directory for `manifest` when none is given.
    pub fn default_data_dir(manifest: &Manifest) -> PathBuf {
        manifest.dir.join(DEFAULT_DATA_DIR)
    }

    /// Loads every component of `manifest`, with services stored under `data_dir`.
    pub fn load(
        manifest: Manifest,
        data_dir: &Path,
        kv_backend: KvBackend,
    ) -> anyhow::Result<Self> {
        manifest.check_sources()?;
        crate::data_dir::prepare(data_dir)?;
        let kv = kv_backend.open(data_dir)?;
        let auth = Arc::new(open_auth(&manifest, Arc::clone(&kv))?);
        let api_key = auth
            .publishable_key()
            .context("cannot read the app's publishable key")?;
        let objects: Arc<dyn ObjectStore> = Arc::new(LocalObjectStore::new(
            data_dir.join("objects"),
            Arc::clone(&kv),
        ));
        let signer =
            Arc::new(UrlSigner::open(&kv, &manifest.app).context("cannot open the URL signer")?);
        let services = Services {
            kv,
            auth,
            objects,
            signer,
        };
        let max_memory = manifest
            .components
            .iter()
            .map(|c| c.limits.memory)
            .max()
            .unwrap_or(crate::manifest::DEFAULT_MEMORY);
        let runtime = Runtime::new(max_memory, Some(data_dir.join("cache")))
            .context("cannot configure the WebAssembly engine")?;
        let mut components = Vec::with_capacity(manifest.components.len());
        let mut errors = Vec::new();
        for spec in &manifest.components {
            match LoadedComponent::load(&manifest, spec, &runtime, &services) {
                Ok(loaded) => components.push(Arc::new(loaded)),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if !errors.is_empty() {
            anyhow::bail!("{}", errors.join("\n"));
        }
        let routes = manifest
            .components
            .iter()
            .enumerate()
            .flat_map(|(component, spec)| {
                spec.routes.iter().map(move |r| {
                    let target = RouteTarget {
                        component,
                        auth: r.auth,
                    };
                    (r.pattern.clone(), target)
                })
            })
            .collect();
        Ok(Self {
            router: Router::new(routes),
            manifest,
            runtime,
            components,
            services,
            api_key,
        })
    }
}
