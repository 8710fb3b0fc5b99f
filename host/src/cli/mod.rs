//! The `nimbus` command line: `up`, `build`, `new`, `wit`, `check`, `invoke`, `users`, `keys`, `secrets`,
//! `usage`, `logs`, `backup`, `restore`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

mod build;
mod events;
mod mail;
mod new;
mod templates;
pub mod up;

use build::build_components;

use crate::app_version::AppVersion;
use crate::host::Host;
use crate::manifest::Manifest;
use crate::services::{BackendArgs, RuntimeConfig, StoreBackend};

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
enum Command {
    /// Serve an app: its routes and the built-in APIs.
    Up(Box<up::UpArgs>),
    /// Run every component's `build` command (after writing its WIT world where `build.wit`
    /// asks for one).
    Build {
        /// The app directory or its nimbus.toml.
        #[arg(default_value = ".")]
        app: PathBuf,
        /// Build only these components [default: every component with a `build`].
        #[arg(long = "component", short = 'c')]
        components: Vec<String>,
    },
    /// Write a new component from a template into APP/NAME and add it to APP/nimbus.toml (or
    /// write a new app there): `rust-http`, `js-http`, `python-http`, `wasi-http-rust`, and
    /// `rust-event`, `js-event`, `python-event` (started by the queue NAME).
    New {
        /// The template (`--list` shows them).
        #[arg(required_unless_present = "list")]
        template: Option<String>,
        /// The component's name, also its folder and its route (`GET /NAME`).
        #[arg(required_unless_present = "list")]
        name: Option<String>,
        /// The app directory [default: the current one].
        #[arg(long, default_value = ".")]
        app: PathBuf,
        /// List the templates.
        #[arg(long)]
        list: bool,
    },
    /// Write a component's WIT world: the platform interfaces its grants allow and the handlers
    /// its routes and triggers call, for toolchains that keep every import of their world
    /// (componentize-js, componentize-py). The folder gets `world.wit` (world `guest`) and
    /// `deps/nimbus-platform/`.
    Wit {
        /// The component name, as in [component.NAME].
        component: String,
        /// The folder to write [default: the component's `build.wit`].
        #[arg(long)]
        out: Option<PathBuf>,
        /// The app directory or its nimbus.toml.
        #[arg(long, default_value = ".")]
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
    /// response: `{"method", "path", "query", "headers": {..}, "body"}`; or with `--event`,
    /// its event handler with an event fixture (`{"type": "queue-message", "queue", "body"}`,
    /// `schedule`, `object-created`, `object-deleted`, `kv-changed`), and print its result.
    Invoke {
        /// The component name, as in [component.NAME].
        component: String,
        /// The JSON request fixture.
        #[arg(long, required_unless_present = "event", conflicts_with = "event")]
        request: Option<PathBuf>,
        /// The JSON event fixture.
        #[arg(long)]
        event: Option<PathBuf>,
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
        #[arg(long, value_parser = crate::manifest::HumanDuration::parse)]
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
    /// List, show, replay or purge dead letters (events whose attempts ran out).
    Dlq {
        #[command(subcommand)]
        command: events::DlqCommand,
        #[command(flatten)]
        target: AppData,
    },
    /// Publish to one of the app's queues.
    Queue {
        #[command(subcommand)]
        command: events::QueueCommand,
        #[command(flatten)]
        target: AppData,
    },
    /// List the app's schedules, or start a run of one now.
    Cron {
        #[command(subcommand)]
        command: events::CronCommand,
        #[command(flatten)]
        target: AppData,
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
    /// Read the development mailbox: the auth mails of a host without `--smtp`.
    Mail {
        #[command(subcommand)]
        command: mail::MailCommand,
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
            ..BackendArgs::default()
        }
    }

    /// The app's manifest and its data directory.
    fn resolve(&self) -> anyhow::Result<(Manifest, PathBuf)> {
        let manifest = load_manifest(&self.app)?;
        let data = data_dir(&manifest, self.data.clone());
        Ok((manifest, data))
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

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up(args) => up::run(*args),
        Command::Build { app, components } => build_components(&load_manifest(&app)?, &components),
        Command::New {
            template,
            name,
            app,
            list,
        } => match (template, name) {
            (Some(template), Some(name)) if !list => {
                let folder = new::create(&template, &name, &app)?;
                println!(
                    "wrote {} and added [component.{name}] to {}; see {}",
                    folder.display(),
                    app.join("nimbus.toml").display(),
                    folder.join("README.md").display()
                );
                Ok(())
            }
            _ => {
                print!("{}", new::list());
                Ok(())
            }
        },
        Command::Wit {
            component,
            out,
            app,
        } => build::write_wit(&load_manifest(&app)?, &component, out),
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
        Command::Dlq { command, target } => {
            let (manifest, data) = target.resolve()?;
            block_on(events::dlq(&manifest, &data, &target.store, command))?
        }
        Command::Queue { command, target } => {
            let (manifest, data) = target.resolve()?;
            block_on(events::queue(&manifest, &data, &target.store, command))?
        }
        Command::Cron { command, target } => {
            let (manifest, data) = target.resolve()?;
            block_on(events::cron(&manifest, &data, &target.store, command))?
        }
        Command::Usage { args, target } => {
            let (manifest, data) = target.resolve()?;
            block_on(crate::admin::usage(&manifest, &data, &target.store, args))?
        }
        Command::Keys { command, target } => {
            let (manifest, data) = target.resolve()?;
            block_on(crate::admin::keys(&manifest, &data, &target.store, command))?
        }
        Command::Mail { command, target } => {
            let (manifest, data) = target.resolve()?;
            block_on(mail::mail(&manifest, &data, &target.store, command))?
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
            event,
            app,
            data,
            cache,
            backends,
        } => {
            let host = start_host(&app, data, cache, backends)?;
            let output = match (request, event) {
                (_, Some(event)) => {
                    block_on(crate::events::fixture::invoke(&host, &component, &event))??
                }
                (Some(request), None) => {
                    block_on(crate::invoke_fixture::invoke(&host, &component, &request))??
                }
                (None, None) => anyhow::bail!("give --request or --event"),
            };
            println!("{output}");
            Ok(())
        }
    }
}
