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

/// The key-value backend (`--store`, `NIMBUS_STORE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// The embedded redb store: `redb` for `DATA/kv.redb`, or `redb:PATH`.
    Redb(Option<PathBuf>),
}

impl std::str::FromStr for StoreBackend {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "redb" => Ok(Self::Redb(None)),
            _ if text.starts_with("redb:") && text.len() > "redb:".len() => {
                Ok(Self::Redb(Some(PathBuf::from(&text["redb:".len()..]))))
            }
            _ if text.starts_with("postgres://") || text.starts_with("postgresql://") => Err(
                "this nimbus has no PostgreSQL backend yet; use `redb` (the default, DATA/kv.redb) or `redb:PATH`".into(),
            ),
            _ => Err(format!(
                "`{text}` is not a key-value store; use `redb` (the default, DATA/kv.redb) or `redb:PATH`"
            )),
        }
    }
}

/// The object storage backend (`--objects`, `NIMBUS_OBJECTS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectsBackend {
    /// Files on local disk: `local` for `DATA/objects`, or `local:DIR`.
    Local(Option<PathBuf>),
}

impl std::str::FromStr for ObjectsBackend {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "local" => Ok(Self::Local(None)),
            _ if text.starts_with("local:") && text.len() > "local:".len() => {
                Ok(Self::Local(Some(PathBuf::from(&text["local:".len()..]))))
            }
            _ if text.starts_with("s3://") => Err(
                "this nimbus has no S3 backend yet; use `local` (the default, DATA/objects) or `local:DIR`".into(),
            ),
            _ => Err(format!(
                "`{text}` is not an object store; use `local` (the default, DATA/objects) or `local:DIR`"
            )),
        }
    }
}

/// The backend flags every command that opens the app's data takes.
#[derive(Debug, Clone, clap::Args)]
pub struct BackendArgs {
    /// Key-value store: `redb` (DATA/kv.redb) or `redb:PATH`.
    #[arg(long, env = "NIMBUS_STORE", default_value = "redb")]
    pub store: StoreBackend,
    /// Object storage: `local` (DATA/objects) or `local:DIR`.
    #[arg(long, env = "NIMBUS_OBJECTS", default_value = "local")]
    pub objects: ObjectsBackend,
    /// The SMTP server auth mails go through: `smtp://user:password@host:587` (STARTTLS),
    /// `smtps://...:465` (TLS) or `smtp+insecure://host:25`. Without it, mails go to the
    /// development mailbox (`nimbus mail`).
    #[arg(long, env = "NIMBUS_SMTP_URL", value_parser = parse_smtp, hide_env_values = true)]
    pub smtp: Option<SmtpArg>,
    /// The URL clients reach this host at, for the links in auth mails (default: the
    /// address it listens on).
    #[arg(long, env = "NIMBUS_PUBLIC_URL")]
    pub public_url: Option<String>,
}

/// `--smtp` as given: its configuration, or why it is none. It is checked when the backends
/// open rather than by clap, whose error would repeat the URL, password included.
#[derive(Debug, Clone)]
pub struct SmtpArg(Result<nimbus_mail::SmtpConfig, String>);

impl SmtpArg {
    /// The configuration, or why the URL is not one.
    pub fn config(&self) -> anyhow::Result<&nimbus_mail::SmtpConfig> {
        self.0
            .as_ref()
            .map_err(|why| anyhow::anyhow!("--smtp (NIMBUS_SMTP_URL): {why}"))
    }
}

fn parse_smtp(url: &str) -> Result<SmtpArg, std::convert::Infallible> {
    Ok(SmtpArg(nimbus_mail::SmtpConfig::parse(url)))
}

impl Default for BackendArgs {
    fn default() -> Self {
        Self {
            store: StoreBackend::Redb(None),
            objects: ObjectsBackend::Local(None),
            smtp: None,
            public_url: None,
        }
    }
}

impl BackendArgs {
    /// The environment that passes these backends' secrets to a worker process.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        self.smtp
            .as_ref()
            .and_then(|smtp| smtp.config().ok())
            .map(|smtp| ("NIMBUS_SMTP_URL", smtp.to_url()))
            .into_iter()
            .collect()
    }

    /// The flags that select these backends, for a worker process.
    pub fn to_args(&self) -> Vec<String> {
        let StoreBackend::Redb(store) = &self.store;
        let ObjectsBackend::Local(objects) = &self.objects;
        let mut args = Vec::new();
        if let Some(path) = store {
            args.push(format!("--store=redb:{}", path.display()));
        }
        if let Some(dir) = objects {
            args.push(format!("--objects=local:{}", dir.display()));
        }
        // The SMTP URL may hold a password: it goes to workers in their environment
        // ([`BackendArgs::to_env`]), which other users cannot read, not on their command line.
        if let Some(url) = &self.public_url {
            args.push(format!("--public-url={url}"));
        }
        args
    }
}

/// Where the key-value service lives for this process.
#[derive(Debug, Clone)]
pub enum KvLocation {
    /// This process opens the configured store itself.
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
    /// Which backends serve.
    pub backends: BackendArgs,
    /// The rate-limit table this process uses.
    pub limits: LimitsTable,
}

/// Where a process keeps its rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitsTable {
    /// Its own, in memory: for commands that serve no other process.
    Private,
    /// A fresh one in the data directory, which its worker processes map: the host's first
    /// process.
    Create,
    /// The one the host's first process made: a worker process.
    Open,
}

impl RuntimeConfig {
    /// The embedded default: everything under `data_dir`, owned by this process.
    pub fn embedded(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            cache_dir: None,
            kv: KvLocation::Owned,
            backends: BackendArgs::default(),
            limits: LimitsTable::Private,
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
    /// What the object store tells of its changes: the served version's object triggers.
    pub object_triggers: Arc<crate::events::watched_objects::ObjectTriggers>,
    /// The SMTP server auth mails go through, when one is configured.
    pub smtp: Option<Arc<nimbus_mail::SmtpMailer>>,
    closed: Arc<std::sync::Mutex<Option<CloseSignal>>>,
}

impl Backends {
    /// A receiver that disconnects once the embedded key-value file is closed, for a process
    /// that must not exit before (none for a store across a socket). Given once.
    pub fn take_close_signal(&self) -> Option<CloseSignal> {
        self.closed.lock().ok()?.take()
    }
}

/// The key-value store `location` names, for data under `data_dir`.
pub fn open_kv(
    location: &KvLocation,
    store: &StoreBackend,
    data_dir: &Path,
) -> anyhow::Result<Arc<dyn KvStore>> {
    Ok(open_kv_signalling_close(location, store, data_dir)?.0)
}

/// Disconnects once an embedded store's file is closed.
type CloseSignal = std::sync::mpsc::Receiver<()>;

/// [`open_kv`], with the embedded store's close signal.
fn open_kv_signalling_close(
    location: &KvLocation,
    store: &StoreBackend,
    data_dir: &Path,
) -> anyhow::Result<(Arc<dyn KvStore>, Option<CloseSignal>)> {
    Ok(match location {
        KvLocation::Owned => {
            let StoreBackend::Redb(path) = store;
            let kv_path = path.clone().unwrap_or_else(|| data_dir.join("kv.redb"));
            let store = RedbKvStore::open(&kv_path).with_context(|| {
                format!("cannot open the key-value store {}", kv_path.display())
            })?;
            if store.was_repaired() {
                tracing::warn!(
                    path = %kv_path.display(),
                    "the key-value store was not closed cleanly last time and has been repaired"
                );
            }
            let closed = store.close_signal();
            (Arc::new(store), closed)
        }
        KvLocation::Remote(socket) => (Arc::new(RemoteKvStore::new(socket)), None),
    })
}

/// The object store `backend` names, for data under `data_dir`, keeping its metadata in `kv`.
pub fn open_objects(
    backend: &ObjectsBackend,
    data_dir: &Path,
    kv: Arc<dyn KvStore>,
) -> Arc<dyn ObjectStore> {
    Arc::new(local_objects(backend, data_dir, kv))
}

fn local_objects(
    backend: &ObjectsBackend,
    data_dir: &Path,
    kv: Arc<dyn KvStore>,
) -> LocalObjectStore {
    let ObjectsBackend::Local(dir) = backend;
    let dir = dir.clone().unwrap_or_else(|| data_dir.join("objects"));
    LocalObjectStore::new(dir, kv)
}

/// Opens the backends `config` names.
pub fn open(config: &RuntimeConfig) -> anyhow::Result<Backends> {
    let (kv, closed) =
        open_kv_signalling_close(&config.kv, &config.backends.store, &config.data_dir)?;
    let object_triggers = Arc::new(crate::events::watched_objects::ObjectTriggers::default());
    let local = local_objects(&config.backends.objects, &config.data_dir, Arc::clone(&kv))
        .with_change_hook(Arc::clone(&object_triggers) as Arc<dyn nimbus_objects::ChangeHook>);
    let objects: Arc<dyn ObjectStore> = Arc::new(crate::metrics::objects::CountedObjects::new(
        Arc::new(local),
    ));
    if config.backends.smtp.is_none() {
        tracing::info!(
            "no --smtp: auth mails go to the development mailbox (`nimbus mail list`), not to their recipients"
        );
    }
    let smtp = match &config.backends.smtp {
        Some(smtp) => Some(Arc::new(
            nimbus_mail::SmtpMailer::new(smtp.config()?)
                .context("cannot set up the SMTP mailer")?,
        )),
        None => None,
    };
    Ok(Backends {
        kv,
        objects,
        object_triggers,
        smtp,
        closed: Arc::new(std::sync::Mutex::new(closed)),
    })
}

/// The rate-limit table of this process: the one every process of a serving host maps (made
/// fresh by the first, mapped by the workers it starts), or one of its own.
pub fn open_limits(config: &RuntimeConfig) -> anyhow::Result<Arc<dyn RateLimiter>> {
    let path = config.data_dir.join("limits.shm");
    let limiter = match config.limits {
        LimitsTable::Private => SharedLimiter::private(),
        LimitsTable::Create => SharedLimiter::create(&path),
        LimitsTable::Open => SharedLimiter::open(&path),
    };
    Ok(Arc::new(
        limiter.context("cannot set up the shared rate limits")?,
    ))
}

/// The auth service of `manifest`'s app, kept in `kv`.
pub async fn open_auth(manifest: &Manifest, kv: Arc<dyn KvStore>) -> anyhow::Result<AuthService> {
    let mut config = AuthConfig::new(&manifest.app);
    config.access_token_ttl = manifest.access_token_ttl;
    config.anonymous_sign_in = manifest.anonymous_sign_in;
    AuthService::open(kv, config)
        .await
        .context("cannot open the auth service")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_named_by_kind_and_an_optional_place() {
        assert_eq!("redb".parse(), Ok(StoreBackend::Redb(None)));
        assert_eq!(
            "redb:/srv/kv.redb".parse(),
            Ok(StoreBackend::Redb(Some("/srv/kv.redb".into())))
        );
        assert_eq!("local".parse(), Ok(ObjectsBackend::Local(None)));
        assert_eq!(
            "local:/srv/objects".parse(),
            Ok(ObjectsBackend::Local(Some("/srv/objects".into())))
        );
        for bad in ["", "redb:", "sqlite", "postgres://db/app"] {
            let error = bad.parse::<StoreBackend>().expect_err(bad);
            assert!(error.contains("redb"), "{error}");
        }
        for bad in ["", "local:", "s3://bucket", "gcs"] {
            let error = bad.parse::<ObjectsBackend>().expect_err(bad);
            assert!(error.contains("local"), "{error}");
        }
    }

    #[test]
    fn a_worker_gets_the_flags_of_non_default_backends_only() {
        assert!(BackendArgs::default().to_args().is_empty());
        let custom = BackendArgs {
            store: StoreBackend::Redb(Some("/srv/kv.redb".into())),
            objects: ObjectsBackend::Local(Some("/srv/o".into())),
            smtp: parse_smtp("smtp://me:secret@mail.example.com").ok(),
            public_url: Some("https://api.example.com".into()),
        };
        assert_eq!(
            custom.to_args(),
            vec![
                "--store=redb:/srv/kv.redb",
                "--objects=local:/srv/o",
                "--public-url=https://api.example.com"
            ]
        );
        // The SMTP password never goes on a command line, which other users can read.
        assert!(custom.to_args().iter().all(|arg| !arg.contains("secret")));
        assert_eq!(
            custom.to_env(),
            vec![(
                "NIMBUS_SMTP_URL",
                "smtp://me:secret@mail.example.com:587".to_string()
            )]
        );
    }
}
