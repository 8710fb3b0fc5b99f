//! `nimbus up` across processes: one single-threaded worker process per core, all accepting
//! on the same port (`SO_REUSEPORT`). Threads of one process slow each other down: every
//! instance reset madvises memory, and each madvise interrupts the other cores running the
//! same address space to flush their TLBs. Separate processes share nothing
//! but the socket, so they do not.
//!
//! The first process (the supervisor) owns the key-value store and serves it to the others on
//! a Unix socket; it serves requests too. Workers die with it (`PR_SET_PDEATHSIG`), and it
//! starts again any worker that exits while it serves.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::host::Host;

/// How long a worker process may take to load the app and listen.
const WORKER_START_TIMEOUT: Duration = Duration::from_secs(60);

/// How many processes serve, and how many threads each runs.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Processes, this one included.
    pub processes: usize,
    /// Worker threads in this process.
    pub workers: usize,
    /// Bounds on every connection, in every process.
    pub connections: crate::gateway::ConnectionLimits,
    /// Flags every worker process gets besides those that place it (what it counts, say).
    pub worker_args: Vec<String>,
}

/// Serves `host` from this process (with `shape.workers` threads) and `shape.processes - 1`
/// worker processes, which serve the same app version: it is pinned (manifest text and code
/// hashes) in the data directory, and workers load exactly that. The key-value socket is
/// served even with one process, so that `nimbus users` and `nimbus keys` work while the app
/// runs.
pub fn serve(
    host: Arc<Host>,
    listen: SocketAddr,
    shape: Shape,
    log: crate::host_log::SharedLogFile,
    on_ready: impl FnOnce(SocketAddr),
    on_stopping: impl FnOnce(),
) -> anyhow::Result<()> {
    let processes = shape.processes;
    let data_dir = host.config.data_dir.clone();
    let version = host.current();
    let pin_path = version.pin.write(&data_dir.join("versions"))?;
    forget_other_pins(&pin_path);
    let socket = data_dir.join("kv.sock");
    if socket.exists() {
        std::fs::remove_file(&socket)
            .with_context(|| format!("cannot remove the stale socket {}", socket.display()))?;
    }
    let listener = UnixListener::bind(&socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    let (stop_kv, kv_stopped) = tokio::sync::oneshot::channel::<()>();
    let kv = Arc::clone(&host.backends.kv);
    let kv_owner = std::thread::Builder::new()
        .name("nimbus-kv-owner".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(runtime) => runtime.block_on(async move {
                    match listener
                        .set_nonblocking(true)
                        .and_then(|()| tokio::net::UnixListener::from_std(listener))
                    {
                        Ok(listener) => tokio::select! {
                            () = nimbus_kv::remote::serve(kv, listener) => {}
                            _ = kv_stopped => {}
                        },
                        Err(e) => tracing::error!("cannot serve the key-value socket: {e}"),
                    }
                }),
                Err(e) => tracing::error!("cannot start the key-value owner's runtime: {e}"),
            }
            // The runtime, and with it every connection's handle on the store, is gone here.
        })
        .context("cannot start the key-value owner thread")?;
    let workers = Arc::new(Workers::default());
    let stopping = Arc::clone(&workers);
    let cache_dir = host.config.cache_dir();
    let backends = host.config.backends.clone();
    let result = crate::gateway::serve(
        host,
        listen,
        shape.workers,
        shape.connections,
        |bound| {
            let mut started = 0;
            for index in 1..processes {
                let launch = Launch {
                    index,
                    log: log.clone(),
                    worker_args: shape.worker_args.clone(),
                    manifest_path: version.manifest.path.clone(),
                    pin_path: pin_path.clone(),
                    data_dir: data_dir.clone(),
                    cache_dir: cache_dir.clone(),
                    backends: backends.clone(),
                    socket: socket.clone(),
                    bound,
                    connections: shape.connections,
                    processes,
                };
                match launch.start() {
                    Ok(child) => {
                        started += 1;
                        let workers = Arc::clone(&workers);
                        let _ = std::thread::Builder::new()
                            .name(format!("nimbus-supervise-{index}"))
                            .spawn(move || supervise(index, child, &launch, &workers));
                    }
                    Err(e) => tracing::error!("worker process {index} did not start: {e:#}"),
                }
            }
            if processes > 1 {
                tracing::info!(processes = started + 1, "worker processes serving");
            }
            on_ready(bound);
        },
        move || {
            on_stopping();
            stopping.signal_all(libc::SIGTERM);
        },
    );
    // The workers drain beside this process; past the grace, whatever is left is cut.
    workers.wait_or_kill(shape.connections.shutdown_grace);
    // The key-value socket's handle on the store goes last, once no worker can call it any
    // more, so that the store can close cleanly when the host lets go of it.
    let _ = stop_kv.send(());
    let _ = kv_owner.join();
    let _ = std::fs::remove_file(&socket);
    result
}

/// Removes the pins of versions that earlier runs served: only one host serves a data
/// directory, and its workers load the pin this run wrote.
fn forget_other_pins(current: &std::path::Path) {
    let Some(dir) = current.parent() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path != current && path.extension().is_some_and(|e| e == "json") {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// The worker processes: their pids, so that they can be stopped, and whether the host is
/// stopping (and since when), so that an exit is not taken for a crash. `stopping` is set and
/// read under the `pids` lock, so a worker (re)started while the host stops is either signalled
/// by [`Workers::signal_all`] or signals itself in [`Workers::add`].
#[derive(Default)]
struct Workers {
    stopping: AtomicBool,
    pids: Mutex<HashMap<usize, u32>>,
    stop_began: Mutex<Option<Instant>>,
}

/// Sends `signal` to worker process `pid`.
fn send(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill takes plain integers; the pid is a child this process started, sent
        // while its supervising thread holds it in the pid map.
        unsafe { libc::kill(pid, signal) };
    }
}

impl Workers {
    /// Records worker `index` as running as `pid`; a worker that starts while the host is
    /// stopping is told to stop at once.
    fn add(&self, index: usize, pid: u32) {
        if let Ok(mut pids) = self.pids.lock() {
            pids.insert(index, pid);
            if self.stopping.load(Ordering::SeqCst) {
                send(pid, libc::SIGTERM);
            }
        }
    }

    fn running(&self) -> usize {
        self.pids.lock().map_or(0, |pids| pids.len())
    }

    /// Marks the host as stopping (from now, the first time) and sends `signal` to every
    /// worker process.
    fn signal_all(&self, signal: libc::c_int) {
        if let Ok(mut began) = self.stop_began.lock() {
            began.get_or_insert_with(Instant::now);
        }
        if let Ok(pids) = self.pids.lock() {
            self.stopping.store(true, Ordering::SeqCst);
            for pid in pids.values() {
                send(*pid, signal);
            }
        }
    }

    /// Waits until every worker process has exited, at most `grace` (plus a moment for the
    /// exit itself) from when the host began to stop, then kills those still running.
    fn wait_or_kill(&self, grace: Duration) {
        if !self.stopping.load(Ordering::SeqCst) {
            self.signal_all(libc::SIGTERM);
        }
        let began = self
            .stop_began
            .lock()
            .ok()
            .and_then(|began| *began)
            .unwrap_or_else(Instant::now);
        let deadline = began + grace + Duration::from_secs(1);
        while self.running() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = self.running();
        if left > 0 {
            tracing::warn!(
                workers = left,
                "worker processes still running after {grace:?} of shutdown (--shutdown-grace); killing them"
            );
            self.signal_all(libc::SIGKILL);
        }
    }
}

/// What starting worker process N needs.
struct Launch {
    index: usize,
    /// Where the worker's log lines go.
    log: crate::host_log::SharedLogFile,
    worker_args: Vec<String>,
    manifest_path: PathBuf,
    pin_path: PathBuf,
    data_dir: PathBuf,
    cache_dir: PathBuf,
    backends: crate::services::BackendArgs,
    socket: PathBuf,
    bound: SocketAddr,
    connections: crate::gateway::ConnectionLimits,
    processes: usize,
}

/// First wait before restarting a worker, doubled while it keeps failing.
const MIN_RESTART_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait before restarting a worker that keeps failing.
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(30);
/// A worker that ran this long before exiting is restarted at once.
const HEALTHY_RUN: Duration = Duration::from_secs(30);

/// Waits on worker `index` and starts it again whenever it exits while the host is serving
/// (a crash, an OOM kill), backing off when it keeps failing.
fn supervise(index: usize, mut child: Child, launch: &Launch, workers: &Workers) {
    let mut backoff = MIN_RESTART_BACKOFF;
    loop {
        workers.add(index, child.id());
        let started = Instant::now();
        let status = child.wait();
        if let Ok(mut pids) = workers.pids.lock() {
            pids.remove(&index);
        }
        if workers.stopping.load(Ordering::SeqCst) {
            return;
        }
        backoff = if started.elapsed() >= HEALTHY_RUN {
            MIN_RESTART_BACKOFF
        } else {
            (backoff * 2).min(MAX_RESTART_BACKOFF)
        };
        tracing::error!(
            worker = index,
            "worker process exited ({}); restarting it in {backoff:?}",
            status.map_or_else(|e| e.to_string(), |s| s.to_string())
        );
        loop {
            std::thread::sleep(backoff);
            if workers.stopping.load(Ordering::SeqCst) {
                return;
            }
            match launch.start() {
                Ok(restarted) => {
                    tracing::info!(worker = index, "worker process restarted");
                    child = restarted;
                    break;
                }
                Err(e) => {
                    tracing::error!(worker = index, "worker process did not restart: {e:#}");
                    backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
                }
            }
        }
    }
}

impl Launch {
    /// Starts the worker and waits until it listens.
    fn start(&self) -> anyhow::Result<Child> {
        let exe = std::env::current_exe().context("cannot find the nimbus executable")?;
        let mut child = Command::new(exe)
            .arg("up")
            .arg(&self.manifest_path)
            .arg("--listen")
            .arg(self.bound.to_string())
            .arg("--data")
            .arg(&self.data_dir)
            .arg("--cache-dir")
            .arg(&self.cache_dir)
            .arg("--version-pin")
            .arg(&self.pin_path)
            .args(["--processes", "1", "--workers", "1", "--kv-socket"])
            .arg(&self.socket)
            .args(self.connections.to_args())
            .args(&self.worker_args)
            .arg(format!("--process-index={}", self.index))
            .arg(format!("--process-count={}", self.processes))
            .args(self.backends.to_args())
            .envs(self.backends.to_env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot spawn a worker process")?;
        let stdout = child.stdout.take().context("worker stdout")?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let log = self.log.clone();
        // The worker's standard output: its log lines (JSON) for the host log, and the line
        // that says it listens.
        std::thread::spawn(move || forward_worker_output(stdout, &log, ready_tx));
        match ready_rx.recv_timeout(WORKER_START_TIMEOUT) {
            Ok(true) => Ok(child),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!("it exited or did not listen within {WORKER_START_TIMEOUT:?}")
            }
        }
    }
}

/// Longest line taken from a worker's output; a longer one is cut there (a worker writes
/// JSON lines, each well under this).
const MAX_WORKER_LINE: usize = 1 << 20;

/// Reads a worker's standard output: its log lines (JSON), which go to the host log, and the
/// line saying it listens, which goes to `ready`. Lines that are waiting together are written
/// together.
fn forward_worker_output(
    stdout: std::process::ChildStdout,
    log: &crate::host_log::SharedLogFile,
    ready: std::sync::mpsc::Sender<bool>,
) {
    let mut ready = Some(ready);
    let mut warned = false;
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let chunk = match reader.fill_buf() {
            Ok([]) | Err(_) => {
                // The worker ended in the middle of a line: keep what it wrote of it.
                if !pending.is_empty() {
                    let _ = log.write_line(&pending);
                }
                break;
            }
            Ok(chunk) => chunk,
        };
        let taken = chunk.len();
        pending.extend_from_slice(chunk);
        reader.consume(taken);
        let end = match pending.iter().rposition(|b| *b == b'\n') {
            Some(end) => end,
            None if pending.len() > MAX_WORKER_LINE => {
                pending.push(b'\n');
                pending.len() - 1
            }
            None => continue,
        };
        let complete: Vec<u8> = pending.drain(..=end).collect();
        let mut to_log: Vec<u8> = Vec::with_capacity(complete.len());
        for line in complete.split_inclusive(|b| *b == b'\n') {
            if line.starts_with(b"nimbus listening on ") {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(true);
                }
            } else {
                to_log.extend_from_slice(line);
            }
        }
        if !to_log.is_empty()
            && let Err(error) = log.write_line(&to_log)
            && !warned
        {
            warned = true;
            tracing::warn!("cannot write a worker's lines to the host log: {error}");
        }
    }
    if let Some(ready) = ready.take() {
        let _ = ready.send(false);
    }
}

/// Makes this worker process end when its supervisor does, however the supervisor ends.
pub fn die_with_supervisor() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl(PR_SET_PDEATHSIG) takes plain integers and touches no memory of ours.
        let _ = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        // SAFETY: getppid has no preconditions.
        if unsafe { libc::getppid() } == 1 {
            // The supervisor is already gone.
            std::process::exit(1);
        }
    }
}
