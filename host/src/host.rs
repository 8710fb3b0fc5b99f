//! The host: what lives as long as the process (the engine and its instance pool, the
//! backends, the runtime configuration) and the app version it currently serves, in a cell
//! that a new version can replace while requests run. A request reads the current version once
//! and keeps it to the end, so a swap never mixes two versions in one request.

use std::sync::Arc;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use nimbus_limits::RateLimiter;

use crate::app_version::{AppVersion, VersionPin};
use crate::manifest::Manifest;
use crate::runtime::Runtime;
use crate::services::{Backends, RuntimeConfig};

/// A running host.
pub struct Host {
    /// The engine, its instance pool and the invoker.
    pub runtime: Runtime,
    /// The backends every version uses.
    pub backends: Backends,
    /// How the backends were chosen.
    pub config: RuntimeConfig,
    /// Rate limits every process of the host shares.
    pub limits: Arc<dyn RateLimiter>,
    /// Image transformations for `/storage/v1/render/image`, and their cache.
    pub renderer: crate::render::Renderer,
    /// The URL clients reach this host at: `--public-url`, or the address it listens on.
    public_url: std::sync::OnceLock<String>,
    current: ArcSwap<AppVersion>,
}

impl Host {
    /// Prepares the data directory, opens the backends and the engine, and loads `manifest` as
    /// the first version.
    pub async fn start(manifest: Manifest, config: RuntimeConfig) -> anyhow::Result<Self> {
        Self::start_with(manifest, config, None).await
    }

    /// The URL clients reach this host at, for links in mails: `--public-url`, else the
    /// address it listens on (never a request's `Host` header, which a client chooses).
    pub fn public_url(&self) -> String {
        match &self.config.backends.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => self
                .public_url
                .get()
                .cloned()
                .unwrap_or_else(|| "http://127.0.0.1".to_string()),
        }
    }

    /// Records the address this host listens on, once it is bound. An unspecified address
    /// (`0.0.0.0`) is no place to send a browser: links then name loopback, and say so.
    pub fn set_bound_address(&self, bound: std::net::SocketAddr) {
        let mut reachable = bound;
        if bound.ip().is_unspecified() {
            reachable.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        if self.public_url.set(format!("http://{reachable}")).is_ok()
            && self.config.backends.public_url.is_none()
            && (bound.ip().is_unspecified() || self.config.backends.smtp.is_some())
        {
            tracing::warn!(
                "links in auth mails point at http://{reachable}; set --public-url (NIMBUS_PUBLIC_URL) to the address clients reach"
            );
        }
    }

    /// Like [`Host::start`], serving exactly the version `pin` names: a component whose code
    /// changed on disk since it was pinned is refused.
    pub async fn start_pinned(pin: &VersionPin, config: RuntimeConfig) -> anyhow::Result<Self> {
        Self::start_with(pin.manifest()?, config, Some(pin)).await
    }

    async fn start_with(
        manifest: Manifest,
        config: RuntimeConfig,
        pin: Option<&VersionPin>,
    ) -> anyhow::Result<Self> {
        crate::data_dir::prepare(&config.data_dir)?;
        // Native code is loaded from here: no one else may write it.
        crate::data_dir::prepare_private(
            &config.cache_dir(),
            "compiled-code cache",
            "--cache-dir",
        )?;
        let max_memory = manifest
            .components
            .iter()
            .map(|c| c.limits.memory)
            .max()
            .unwrap_or(crate::manifest::DEFAULT_MEMORY);
        // The instance pool maps a stack and its guard page for every instance it may hold,
        // a thousand system calls that need none of the backends: they run on a thread of
        // their own while this one opens the stores, and a start waits for the longer of the
        // two instead of their sum.
        let cache_dir = config.cache_dir();
        let engine = std::thread::Builder::new()
            .name("nimbus-engine-setup".to_string())
            .spawn(move || Runtime::new(max_memory, Some(cache_dir)))
            .context("cannot start the engine's set-up")?;
        // The rate-limit table only once the store is open: the store's lock is what stops a
        // second host on this data directory, and making the table replaces the one a running
        // host's processes share.
        let stores = crate::services::open(&config)
            .and_then(|backends| Ok((backends, crate::services::open_limits(&config)?)));
        let engine = engine.join();
        let (backends, limits) = stores?;
        let runtime = engine
            .map_err(|panic| {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                anyhow::anyhow!("the engine's set-up panicked: {reason}")
            })?
            .context("cannot configure the WebAssembly engine")?;
        let version =
            AppVersion::load(manifest, &runtime, &backends, pin.map(|p| &p.components)).await?;
        backends
            .object_triggers
            .watch(&version.manifest, &version.services.events);
        Ok(Self {
            runtime,
            backends,
            config,
            limits,
            renderer: crate::render::Renderer::default(),
            public_url: std::sync::OnceLock::new(),
            current: ArcSwap::from_pointee(version),
        })
    }

    /// The version serving now.
    pub fn current(&self) -> Arc<AppVersion> {
        self.current.load_full()
    }

    /// Loads `manifest` as a new version on this host's engine and backends, without serving
    /// it yet.
    pub async fn load_version(&self, manifest: Manifest) -> anyhow::Result<AppVersion> {
        let pool_limit = self.runtime.max_memory();
        if let Some(spec) = manifest
            .components
            .iter()
            .find(|c| c.limits.memory > pool_limit)
        {
            anyhow::bail!(
                "component `{}` asks for {} bytes of memory, more than the {pool_limit} this host's instance pool was sized for; restart the host to serve it",
                spec.name,
                spec.limits.memory
            );
        }
        AppVersion::load(manifest, &self.runtime, &self.backends, None).await
    }

    /// Serves `version` from now on, in this process; requests already running finish on the
    /// version they began with. Returns the version it replaced. Nothing calls this yet: a
    /// deploy across processes must also write the new version's pin (so that a worker
    /// restarted later loads it) and have every worker swap.
    pub fn replace(&self, version: AppVersion) -> Arc<AppVersion> {
        self.backends
            .object_triggers
            .watch(&version.manifest, &version.services.events);
        self.current.swap(Arc::new(version))
    }
}
