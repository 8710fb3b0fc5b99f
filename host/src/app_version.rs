//! An app version: one manifest with its loaded components, routes, keys and the content
//! hashes of its code. The [`crate::host::Host`] holds the current one in a swappable cell, so
//! a new version can replace it without a restart; everything that outlives a version (engine,
//! pool, backends) lives in the host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use nimbus_objects::UrlSigner;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::capabilities::Services;
use crate::manifest::{Manifest, RouteAuth};
use crate::routes::Router;
use crate::runtime::{LoadedComponent, Runtime};
use crate::services::Backends;

/// Where an app keeps its data when `--data` is not given: beside its manifest.
pub const DEFAULT_DATA_DIR: &str = ".nimbus";

/// What a route invokes, whether it needs a bearer token, and how often it may be called.
#[derive(Debug, Clone, Copy)]
pub struct RouteTarget {
    /// Index into [`AppVersion::components`].
    pub component: usize,
    /// Index into that component's `routes`.
    pub route: usize,
    /// The route's `auth`.
    pub auth: RouteAuth,
    /// The route's `rate_limit`, with what names its allowances: a hash of its component,
    /// pattern and limit, so that each route counts its own, and a route whose limit changes
    /// in a new version starts afresh.
    pub rate_limit: Option<(u64, crate::manifest::RateLimit)>,
}

/// What names a route's allowances in the shared limit table. Every process computes the same
/// (one binary, fixed hash keys).
fn allowance_name(
    component: &str,
    route: &crate::manifest::RouteSpec,
    limit: crate::manifest::RateLimit,
) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    (component, route.pattern.to_string(), format!("{limit:?}")).hash(&mut hasher);
    hasher.finish()
}

/// What identifies an app version exactly: its manifest's text and the content hash of every
/// component. Worker processes load the version their supervisor pinned, so that none of them
/// serves code that changed on disk after the host loaded it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionPin {
    /// Where the manifest was read from (its directory resolves relative paths).
    pub manifest_path: PathBuf,
    /// The manifest as it was parsed.
    pub manifest_text: String,
    /// Hex SHA-256 of each component's code, by component name.
    pub components: BTreeMap<String, String>,
}

impl VersionPin {
    /// A short content-derived id of the version.
    pub fn id(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(self.manifest_text.as_bytes());
        for (name, digest) in &self.components {
            hash.update([0]);
            hash.update(name.as_bytes());
            hash.update([0]);
            hash.update(digest.as_bytes());
        }
        hex::encode(&hash.finalize()[..8])
    }

    /// Writes the pin under `dir` (named by its id) and returns the file's path.
    pub fn write(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(format!("{}.json", self.id()));
        let text = serde_json::to_vec_pretty(self).context("cannot encode the version pin")?;
        let temp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temp, text)
            .and_then(|()| std::fs::rename(&temp, &path))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// Reads a pin written by [`VersionPin::write`].
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_slice(&text)
            .with_context(|| format!("{} is not an app version pin", path.display()))
    }

    /// The pinned manifest, parsed again.
    pub fn manifest(&self) -> anyhow::Result<Manifest> {
        Ok(Manifest::parse(
            &self.manifest_path,
            self.manifest_text.clone(),
        )?)
    }
}

/// A loaded app version.
pub struct AppVersion {
    /// Its manifest.
    pub manifest: Manifest,
    /// Components in manifest order; routes refer to them by index.
    pub components: Vec<Arc<LoadedComponent>>,
    /// Routes of every component.
    pub router: Router<RouteTarget>,
    /// The app's key-value stores, users, buckets and URL signer.
    pub services: Services,
    /// The app's publishable API key (`apikey` header).
    pub api_key: String,
    /// Exactly what this version is.
    pub pin: VersionPin,
    /// Where the auth flows' mails go: the SMTP server, or the development mailbox.
    pub mailer: Arc<dyn nimbus_mail::Mailer>,
}

impl AppVersion {
    /// The data directory for `manifest` when none is given.
    pub fn default_data_dir(manifest: &Manifest) -> PathBuf {
        manifest.dir.join(DEFAULT_DATA_DIR)
    }

    /// Loads every component of `manifest` on `runtime`, with services on `backends`. With
    /// `pinned`, each component's code must have the content hash pinned for it.
    pub async fn load(
        manifest: Manifest,
        runtime: &Runtime,
        backends: &Backends,
        pinned: Option<&BTreeMap<String, String>>,
    ) -> anyhow::Result<Self> {
        if pinned.is_none() {
            manifest.check_sources()?;
        }
        let kv = Arc::clone(&backends.kv);
        let auth = Arc::new(crate::services::open_auth(&manifest, Arc::clone(&kv)).await?);
        let api_key = auth
            .publishable_key()
            .await
            .context("cannot read the app's publishable key")?;
        let signer = Arc::new(
            UrlSigner::open(&kv, &manifest.app)
                .await
                .context("cannot open the URL signer")?,
        );
        let events = nimbus_queue::EventLog::new(Arc::clone(&kv), &manifest.app);
        let mailer: Arc<dyn nimbus_mail::Mailer> = match &backends.smtp {
            Some(smtp) => Arc::clone(smtp) as Arc<dyn nimbus_mail::Mailer>,
            None => Arc::new(nimbus_mail::DevMailbox::new(Arc::clone(&kv), &manifest.app)),
        };
        let services = Services {
            secrets: Arc::new(crate::secrets::Secrets::new(Arc::clone(&kv), &manifest.app)),
            kv: crate::events::watched_kv::WatchedKv::wrap(kv, &manifest, events.clone()),
            events,
            auth,
            objects: Arc::clone(&backends.objects),
            signer,
        };
        let mut components = Vec::with_capacity(manifest.components.len());
        let mut errors = Vec::new();
        for spec in &manifest.components {
            let expected = match pinned {
                None => None,
                Some(pins) => match pins.get(&spec.name) {
                    Some(digest) => Some(digest.as_str()),
                    None => {
                        errors.push(format!(
                            "component `{}` is not in the pinned app version",
                            spec.name
                        ));
                        continue;
                    }
                },
            };
            match LoadedComponent::load(&manifest, spec, runtime, &services, expected) {
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
                spec.routes.iter().enumerate().map(move |(route, r)| {
                    let target = RouteTarget {
                        component,
                        route,
                        auth: r.auth,
                        rate_limit: r
                            .rate_limit
                            .map(|limit| (allowance_name(&spec.name, r, limit), limit)),
                    };
                    (r.pattern.clone(), target)
                })
            })
            .collect();
        let pin = VersionPin {
            manifest_path: manifest.path.clone(),
            manifest_text: manifest.text().to_string(),
            components: components
                .iter()
                .map(|c| (c.spec.name.clone(), c.digest.clone()))
                .collect(),
        };
        Ok(Self {
            router: Router::new(routes),
            manifest,
            components,
            services,
            api_key,
            pin,
            mailer,
        })
    }

    /// The component called `name`.
    pub fn component(&self, name: &str) -> Option<&Arc<LoadedComponent>> {
        self.components.iter().find(|c| c.spec.name == name)
    }
}
