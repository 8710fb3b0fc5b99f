//! An app ready to serve: its manifest, engine, loaded components, routes and services.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use nimbus_kv::{KvStore, RedbKvStore, RemoteKvStore};

use crate::manifest::Manifest;
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

/// A loaded app.
pub struct App {
    /// Its manifest.
    pub manifest: Manifest,
    /// The engine every component runs on.
    pub runtime: Runtime,
    /// Components in manifest order; routes refer to them by index.
    pub components: Vec<Arc<LoadedComponent>>,
    /// Routes of every component.
    pub router: Router<usize>,
    /// The key-value service the components use.
    pub kv: Arc<dyn KvStore>,
}

impl App {
    /// The data directory for `manifest` when none is given.
    pub fn default_data_dir(manifest: &Manifest) -> PathBuf {
        manifest.dir.join(DEFAULT_DATA_DIR)
    }

    /// Loads every component of `manifest`, with services stored under `data_dir`.
    pub fn load(manifest: Manifest, data_dir: &Path, kv: KvBackend) -> anyhow::Result<Self> {
        manifest.check_sources()?;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let kv: Arc<dyn KvStore> = match kv {
            KvBackend::Owned => {
                let kv_path = data_dir.join("kv.redb");
                Arc::new(RedbKvStore::open(&kv_path).with_context(|| {
                    format!("cannot open the key-value store {}", kv_path.display())
                })?)
            }
            KvBackend::Remote(socket) => Arc::new(RemoteKvStore::new(&socket)),
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
            match LoadedComponent::load(&manifest, spec, &runtime, &kv) {
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
            .flat_map(|(index, spec)| spec.routes.iter().map(move |r| (r.clone(), index)))
            .collect();
        Ok(Self {
            router: Router::new(routes),
            manifest,
            runtime,
            components,
            kv,
        })
    }
}
