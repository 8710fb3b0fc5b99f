//! The `nimbus` command line: `up`, `build`, `check`, `invoke`, `users`, `keys`, `secrets`,
//! `usage`, `logs`, `backup`, `restore`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::app_version::{AppVersion, VersionPin};
use crate::host::Host;
use crate::manifest::Manifest;
use crate::services::{BackendArgs, KvLocation, LimitsTable, RuntimeConfig, StoreBackend};

/// nimbus: WebAssembly functions and the backends they need, in one binary.
#[derive(Debug, Parser)]
#[command(name = "nimbus", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How the host writes its log lines to stderr: `text` for people, `json` (one object per
    /// line) for log collectors.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "NIMBUS_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: crate::logging::LogFormat,
}

#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing `up`'s flags would only obscure them"
)]
enum Command {
    /// Serve an app: its routes and the built-in APIs.
    Up {
        /// The app directory or its nimbus.toml.
        #[arg(default_value = ".")]
        app: PathBuf,
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// Where data (key-value stores, compiled-code cache) lives [default: APP/.nimbus].
        #[arg(long)]
        data: Option<PathBuf>,
        /// Run every component's `build` command first.
        #[arg(long)]
        build: bool,
        /// Worker processes, each accepting its own share of connections [default: one per core].
        #[arg(long)]
        processes: Option<usize>,
        /// Worker threads per process [default: 1, or one per core with `--processes 1`].
        #[arg(long)]
        workers: Option<usize>,
        #[command(flatten)]
        cache: CacheDir,
        #[command(flatten)]
        backends: BackendArgs,
        /// Internal: run as a worker process using the key-value store served on this socket.
        #[arg(long, hide = true, requires = "version_pin")]
        kv_socket: Option<PathBuf>,
        /// Internal: the app version a worker process serves, as its supervisor pinned it.
        #[arg(long, hide = true, requires = "kv_socket")]
        version_pin: Option<PathBuf>,
        #[command(flatten)]
        connections: crate::gateway::ConnectionLimits,
        #[command(flatten)]
        observe: Observe,
        /// Internal: this worker process's index among the host's processes.
        #[arg(long, hide = true, default_value_t = 0)]
        process_index: usize,
    },
    /// Run every component's `build` command.
    Build {
        /// The app directory or its nimbus.toml.
        #[arg(default_value = ".")]
        app: PathBuf,
    },
    /// Validate the manifest and load every component, without serving.
    Check {
        /// The app directory or its nimbus.toml.
        #[arg(default_value = ".")]
        app: PathBuf,
        /// Data directory [default: APP/.nimbus].
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        cache: CacheDir,
        #[command(flatten)]
        backends: BackendArgs,
    },
    /// Invoke one component once with a request read from a JSON fixture, and print the
    /// response: `{"method", "path", "query", "headers": {..}, "body"}`.
    Invoke {
        /// The component name, as in [component.NAME].
        component: String,
        /// The JSON request fixture.
        #[arg(long)]
        request: PathBuf,
        /// The app directory or its nimbus.toml.
        #[arg(long, default_value = ".")]
        app: PathBuf,
        /// Data directory [default: APP/.nimbus].
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        cache: CacheDir,
        #[command(flatten)]
        backends: BackendArgs,
    },
    /// Manage the app's users.
    Users {
        #[command(subcommand)]
        command: crate::admin::UsersCommand,
        #[command(flatten)]
        target: AppData,
    },
    /// Set, list or delete the app's secrets, read by the components granted them.
    Secrets {
        #[command(subcommand)]
        command: crate::admin::SecretsCommand,
        #[command(flatten)]
        target: AppData,
    },
    /// Copy the app's data (key-value stores, users, secrets, object bodies) into the new
    /// directory DIR, consistently, while the app is served or not.
    Backup {
        /// Where the backup goes (a new or empty directory).
        dir: PathBuf,
        #[command(flatten)]
        target: AppData,
    },
    /// Put a backup made by `nimbus backup` into the app's data directory, which no host may
    /// be serving.
    Restore {
        /// The backup directory.
        dir: PathBuf,
        /// Move the data directory's current data aside (`*.before-restore-TIME`) instead of
        /// refusing.
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        target: AppData,
    },
    /// Print the host log (every process's lines), oldest first.
    Logs {
        /// Keep printing lines as they are written.
        #[arg(long, short)]
        follow: bool,
        /// Only lines of this component (its invocations and its guests' output).
        #[arg(long)]
        component: Option<String>,
        /// Only lines of the last span of time, e.g. `10m`, `2h`.
        #[arg(long, value_parser = parse_span)]
        since: Option<std::time::Duration>,
        /// The lines as written (JSON objects) instead of readable ones.
        #[arg(long)]
        json: bool,
        /// The app directory or its nimbus.toml.
        #[arg(long, default_value = ".")]
        app: PathBuf,
        /// Data directory [default: APP/.nimbus].
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Print what the app's invocations used (GB-seconds, CPU time, bytes) and what that would
    /// cost, by component or by hour.
    Usage {
        #[command(flatten)]
        args: crate::admin::UsageArgs,
        #[command(flatten)]
        target: AppData,
    },
    /// Show or rotate the app's publishable key, secret key and JWT signing key.
    Keys {
        #[command(subcommand)]
        command: crate::admin::KeysCommand,
        #[command(flatten)]
        target: AppData,
    },
}

/// The app and data that `users`, `keys` and `secrets` manage.
#[derive(Debug, Clone, clap::Args)]
struct AppData {
    /// The app directory or its nimbus.toml.
    #[arg(long, default_value = ".", global = true)]
    app: PathBuf,
    /// Data directory [default: APP/.nimbus].
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Key-value store, when the app is not running: `redb` (DATA/kv.redb) or `redb:PATH`.
    #[arg(long, env = "NIMBUS_STORE", default_value = "redb", global = true)]
    store: StoreBackend,
    /// Object storage: `local` (DATA/objects) or `local:DIR`.
    #[arg(long, env = "NIMBUS_OBJECTS", default_value = "local", global = true)]
    objects: crate::services::ObjectsBackend,
}

impl AppData {
    /// The backends these flags name.
    fn backends(&self) -> BackendArgs {
        BackendArgs {
            store: self.store.clone(),
            objects: self.objects.clone(),
        }
    }

    /// The app's manifest and its data directory.
    fn resolve(&self) -> anyhow::Result<(Manifest, PathBuf)> {
        let manifest = load_manifest(&self.app)?;
        let data = data_dir(&manifest, self.data.clone());
        Ok((manifest, data))
    }
}

/// What `nimbus up` counts and where it shows it.
#[derive(Debug, Clone, clap::Args)]
pub struct Observe {
    /// Count Prometheus metrics (`--metrics=false` turns them off).
    #[arg(long, env = "NIMBUS_METRICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics: bool,
    /// Meter every invocation's usage (GB-seconds, CPU time, bytes) for `nimbus usage`
    /// (`--metering=false` turns it off).
    #[arg(long, env = "NIMBUS_METERING", default_value_t = true, action = clap::ArgAction::Set)]
    pub metering: bool,
    /// Rotate the host log (DATA/logs/nimbus.log) when it reaches this many MiB.
    #[arg(long, env = "NIMBUS_LOG_MAX_MIB", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub log_max_mib: u64,
    /// Rotated host log files kept besides the current one.
    #[arg(long, env = "NIMBUS_LOG_FILES", default_value_t = 4, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub log_files: u64,
    /// Also serve `GET /metrics` on this address (e.g. 127.0.0.1:9464), apart from the app's
    /// port; `[app] metrics = true` serves it on the app's port.
    #[arg(long, env = "NIMBUS_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

impl Observe {
    /// The flags a worker process gets: it counts what the supervisor counts; only the
    /// supervisor serves the separate metrics address.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            format!("--metrics={}", self.metrics),
            format!("--metering={}", self.metering),
        ]
    }
}

/// Where compiled code is cached.
#[derive(Debug, Clone, clap::Args)]
struct CacheDir {
    /// Directory for compiled code, written only by nimbus; several apps and hosts of the same
    /// user may share one [default: DATA/cache].
    #[arg(long = "cache-dir", env = "NIMBUS_CACHE_DIR")]
    dir: Option<PathBuf>,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Worker processes inherit the environment, so they write the same format whether it was
    // chosen by flag or by environment.
    let format = match cli.log_format {
        crate::logging::LogFormat::Text => "text",
        crate::logging::LogFormat::Json => "json",
    };
    // SAFETY: no other thread exists yet.
    unsafe { std::env::set_var("NIMBUS_LOG_FORMAT", format) };
    let log = crate::logging::init(cli.log_format);
    let result = run(cli);
    // What is still queued is written before the final error, not after it.
    crate::logging::flush();
    drop(log);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_manifest(app: &Path) -> anyhow::Result<Manifest> {
    Ok(Manifest::load(&Manifest::locate(app))?)
}

/// The data directory `data`, or the app's default.
fn data_dir(manifest: &Manifest, data: Option<PathBuf>) -> PathBuf {
    data.unwrap_or_else(|| AppVersion::default_data_dir(manifest))
}

/// A host with embedded backends serving the app at `app`.
fn start_host(
    app: &Path,
    data: Option<PathBuf>,
    cache: CacheDir,
    backends: BackendArgs,
) -> anyhow::Result<Host> {
    let manifest = load_manifest(app)?;
    let config = RuntimeConfig {
        cache_dir: cache.dir,
        backends,
        ..RuntimeConfig::embedded(data_dir(&manifest, data))
    };
    block_on(Host::start(manifest, config))?
}

/// Runs `work` to completion on a runtime of its own: for start-up and one-shot commands,
/// before (or without) the gateway's runtimes.
fn block_on<F: std::future::Future>(work: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    Ok(runtime.block_on(work))
}

/// How long an exiting host waits for background work (an upkeep sweep, a last write) to let
/// go of the key-value store and for the store to close.
const STORE_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits, at most [`STORE_CLOSE_WAIT`], until the key-value file is closed, so that the next
/// start need not repair it.
fn wait_for_close(closed: Option<std::sync::mpsc::Receiver<()>>) {
    let Some(closed) = closed else {
        return;
    };
    if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = closed.recv_timeout(STORE_CLOSE_WAIT) {
        tracing::warn!(
            "the key-value store is still in use at exit; the next start will repair it"
        );
    }
}

/// Opens the host log in `data` and sends this process's lines to it too.
fn open_host_log(data: &Path, observe: &Observe) -> anyhow::Result<crate::host_log::SharedLogFile> {
    let dir = crate::host_log::file::dir_of(data);
    let rotation = crate::host_log::Rotation {
        max_bytes: observe.log_max_mib << 20,
        keep: usize::try_from(observe.log_files).unwrap_or(usize::MAX),
    };
    let file = crate::host_log::LogFile::open(&dir, rotation)
        .with_context(|| format!("cannot open the host log in {}", dir.display()))?;
    let shared = crate::host_log::SharedLogFile::new(file);
    crate::logging::open_host_log(shared.clone());
    Ok(shared)
}

/// Writes what `host` meters every interval, or meters nothing when `on` is false.
fn start_metering(host: &Arc<Host>, on: bool) {
    if on {
        crate::metering::flush_in_background(host);
    } else {
        host.runtime.usage().disable();
    }
}

/// A span of time as `--since` takes it: `30s`, `10m`, `24h`, `7d`.
pub fn parse_span(text: &str) -> Result<std::time::Duration, String> {
    crate::manifest::HumanDuration::try_from(text.to_string()).map(|d| d.0)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up {
            app,
            listen,
            data,
            build,
            processes,
            workers,
            cache,
            backends,
            kv_socket,
            version_pin,
            connections,
            observe,
            process_index,
        } => {
            if let (Some(socket), Some(pin)) = (kv_socket, version_pin) {
                crate::supervisor::die_with_supervisor();
                // The supervisor reads these lines into the host log.
                crate::logging::open_host_log(std::io::stdout());
                let pin = VersionPin::read(&pin)?;
                let data = data.context("a worker process needs --data")?;
                if observe.metrics {
                    crate::metrics::install(&pin.manifest()?.app, process_index);
                    crate::metrics::publish::start(crate::metrics::publish::dir_of(&data));
                }
                let config = RuntimeConfig {
                    data_dir: data,
                    cache_dir: cache.dir,
                    kv: KvLocation::Remote(socket),
                    backends,
                    limits: LimitsTable::Open,
                };
                let host = Arc::new(block_on(Host::start_pinned(&pin, config))??);
                start_metering(&host, observe.metering);
                let owner = Arc::clone(&host);
                let workers = workers.unwrap_or(1);
                let served =
                    crate::gateway::serve(host, listen, workers, connections, announce, || {});
                crate::metering::flush_at_exit(&owner);
                return served;
            }
            let manifest = load_manifest(&app)?;
            if build {
                build_components(&manifest)?;
            }
            let data = data_dir(&manifest, data);
            let log = open_host_log(&data, &observe)?;
            if observe.metrics {
                let dir = crate::metrics::publish::dir_of(&data);
                crate::metrics::publish::reset(&dir).with_context(|| {
                    format!("cannot prepare the metrics directory {}", dir.display())
                })?;
                crate::metrics::install(&manifest.app, 0);
                crate::metrics::publish::start(dir);
            }
            let config = RuntimeConfig {
                cache_dir: cache.dir,
                backends,
                limits: LimitsTable::Create,
                ..RuntimeConfig::embedded(data.clone())
            };
            let host = Arc::new(block_on(Host::start(manifest, config))??);
            start_metering(&host, observe.metering);
            log_routes(&host.current());
            let processes = processes.unwrap_or_else(cores).max(1);
            let workers = if processes == 1 {
                workers.unwrap_or_else(cores)
            } else {
                1
            };
            if let Some(address) = observe.metrics_listen {
                let bound = crate::gateway::serve_metrics(data.clone(), address)?;
                tracing::info!("metrics on http://{bound}/metrics");
            }
            let shape = crate::supervisor::Shape {
                processes,
                workers,
                connections,
                observe,
            };
            let owner = Arc::clone(&host);
            let closed = host.backends.take_close_signal();
            let served = crate::supervisor::serve(host, listen, shape, log, |bound| {
                announce(bound);
                crate::data_dir::tighten_in_background(&data);
                crate::upkeep::sweep_in_background(&owner);
            });
            crate::metering::flush_at_exit(&owner);
            drop(owner);
            wait_for_close(closed);
            served
        }
        Command::Build { app } => build_components(&load_manifest(&app)?),
        Command::Check {
            app,
            data,
            cache,
            backends,
        } => {
            let host = start_host(&app, data, cache, backends)?;
            let app = host.current();
            println!(
                "{}: app `{}` is valid; {} component(s) loaded",
                app.manifest.path.display(),
                app.manifest.app,
                app.components.len()
            );
            Ok(())
        }
        Command::Users { command, target } => {
            let (manifest, data) = target.resolve()?;
            block_on(crate::admin::users(
                &manifest,
                &data,
                &target.store,
                command,
            ))?
        }
        Command::Backup { dir, target } => {
            let (manifest, data) = target.resolve()?;
            let info = block_on(crate::backup::backup(
                &manifest,
                &data,
                &target.backends(),
                &dir,
            ))??;
            println!(
                "backed up app `{}` ({} object bodies) into {}",
                info.app,
                info.objects,
                dir.display()
            );
            Ok(())
        }
        Command::Restore {
            dir,
            replace,
            target,
        } => {
            let (manifest, data) = target.resolve()?;
            let info = block_on(crate::backup::restore(
                &manifest,
                &data,
                &target.backends(),
                &dir,
                replace,
            ))??;
            println!(
                "restored app `{}` as of {} ({} object bodies) into {}",
                info.app,
                info.created_at,
                info.objects,
                data.display()
            );
            Ok(())
        }
        Command::Logs {
            follow,
            component,
            since,
            json,
            app,
            data,
        } => {
            let manifest = load_manifest(&app)?;
            let dir = crate::host_log::file::dir_of(&data_dir(&manifest, data));
            let selection = crate::host_log::read::Selection {
                component,
                since: since.and_then(|span| std::time::SystemTime::now().checked_sub(span)),
                json,
            };
            let mut out = std::io::stdout().lock();
            match crate::host_log::read::print(&dir, &selection, follow, &mut out) {
                Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.with_context(|| format!("cannot read the log in {}", dir.display())),
            }
        }
        Command::Usage { args, target } => {
            let (manifest, data) = target.resolve()?;
            block_on(crate::admin::usage(&manifest, &data, &target.store, args))?
        }
        Command::Keys { command, target } => {
            let (manifest, data) = target.resolve()?;
            block_on(crate::admin::keys(&manifest, &data, &target.store, command))?
        }
        Command::Secrets { command, target } => {
            let (manifest, data) = target.resolve()?;
            block_on(crate::admin::secrets(
                &manifest,
                &data,
                &target.store,
                command,
            ))?
        }
        Command::Invoke {
            component,
            request,
            app,
            data,
            cache,
            backends,
        } => {
            let host = start_host(&app, data, cache, backends)?;
            let output = block_on(crate::invoke_fixture::invoke(&host, &component, &request))??;
            println!("{output}");
            Ok(())
        }
    }
}

fn log_routes(app: &AppVersion) {
    let routes: Vec<String> = app
        .components
        .iter()
        .flat_map(|c| {
            c.spec
                .routes
                .iter()
                .map(|r| format!("{} -> {}{}", r.pattern, c.spec.name, r.auth.label()))
        })
        .collect();
    tracing::info!(app = %app.manifest.app, "{} route(s): {}", routes.len(), routes.join(", "));
}

/// Tests and scripts read this line to find the port.
fn announce(bound: SocketAddr) {
    println!("nimbus listening on http://{bound}");
}

fn build_components(manifest: &Manifest) -> anyhow::Result<()> {
    for component in &manifest.components {
        let Some(command) = &component.build else {
            continue;
        };
        tracing::info!(component = %component.name, "building: {command}");
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&manifest.dir)
            .status()
            .with_context(|| {
                format!(
                    "cannot run the build command of component `{}`",
                    component.name
                )
            })?;
        if !status.success() {
            anyhow::bail!(
                "component.{}.build: `{command}` failed ({status})",
                component.name
            );
        }
    }
    Ok(())
}
