//! `nimbus up`: serve an app from this process and its worker processes, or, with the
//! internal flags the supervisor passes, as one of those worker processes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::{CacheDir, block_on, build_components, data_dir, load_manifest};
use crate::app_version::{AppVersion, VersionPin};
use crate::host::Host;
use crate::services::{BackendArgs, KvLocation, LimitsTable, RuntimeConfig};

/// `nimbus up`'s flags.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
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
    /// Internal: how many processes serve the host.
    #[arg(long, hide = true, default_value_t = 1)]
    process_count: usize,
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

/// Serves the app as `args` say.
pub fn run(args: UpArgs) -> anyhow::Result<()> {
    let UpArgs {
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
        process_count,
    } = args;
    if observe.metrics {
        crate::metrics::calibrate_clock_in_background();
    }
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
        let events = EventsCell::default();
        let place = crate::events::ProcessPlace {
            index: process_index,
            count: process_count,
        };
        let served = crate::gateway::serve(
            host,
            listen,
            workers,
            connections,
            |bound| {
                announce(bound);
                events.start(&owner, place, connections.shutdown_grace);
            },
            || events.stop(),
        );
        events.stop_and_wait();
        crate::metering::flush_at_exit(&owner);
        return served;
    }
    let manifest = load_manifest(&app)?;
    if build {
        build_components(&manifest, &[])?;
    }
    let data = data_dir(&manifest, data);
    // Checked to be this user's and closed to others before anything is written in it.
    crate::data_dir::prepare(&data)?;
    let log = open_host_log(&data, &observe)?;
    if observe.metrics {
        let dir = crate::metrics::publish::dir_of(&data);
        crate::metrics::publish::reset(&dir)
            .with_context(|| format!("cannot prepare the metrics directory {}", dir.display()))?;
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
        worker_args: observe.to_args(),
    };
    let owner = Arc::clone(&host);
    let closed = host.backends.take_close_signal();
    let events = EventsCell::default();
    let place = crate::events::ProcessPlace {
        index: 0,
        count: processes,
    };
    let served = crate::supervisor::serve(
        host,
        listen,
        shape,
        log,
        |bound| {
            announce(bound);
            crate::data_dir::tighten_in_background(&data);
            crate::upkeep::sweep_in_background(&owner);
            events.start(&owner, place, connections.shutdown_grace);
        },
        || events.stop(),
    );
    events.stop_and_wait();
    crate::metering::flush_at_exit(&owner);
    drop(owner);
    wait_for_close(closed);
    served
}

/// This process's event consumers and schedules, started once it listens and stopped as soon
/// as it is told to stop, so that it takes no new events while it drains.
#[derive(Default)]
struct EventsCell(std::sync::Mutex<Option<crate::events::Events>>);

impl EventsCell {
    fn start(&self, host: &Arc<Host>, place: crate::events::ProcessPlace, grace: Duration) {
        match crate::events::start(host, place, grace) {
            Ok(events) => {
                if let Ok(mut cell) = self.0.lock() {
                    *cell = events;
                }
            }
            Err(error) => tracing::error!("cannot start the event consumers: {error}"),
        }
    }

    fn stop(&self) {
        if let Ok(cell) = self.0.lock()
            && let Some(events) = cell.as_ref()
        {
            events.stop();
        }
    }

    fn stop_and_wait(&self) {
        let events = self.0.lock().ok().and_then(|mut cell| cell.take());
        if let Some(events) = events {
            events.stop_and_wait();
        }
    }
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

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
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
