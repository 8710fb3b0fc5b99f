//! `nimbus up` across processes: one single-threaded worker process per core, all accepting
//! on the same port (`SO_REUSEPORT`). Threads of one process slow each other down: every
//! instance reset madvises memory, and each madvise interrupts the other cores running the
//! same address space to flush their TLBs. Separate processes share nothing
//! but the socket, so they do not.
//!
//! The first process (the supervisor) owns the key-value store and serves it to the others on
//! a Unix socket; it serves requests too. Workers die with it (`PR_SET_PDEATHSIG`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::app::App;

/// How long a worker process may take to load the app and listen.
const WORKER_START_TIMEOUT: Duration = Duration::from_secs(60);

/// How many processes serve, and how many threads each runs.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Processes, this one included.
    pub processes: usize,
    /// Worker threads in this process.
    pub workers: usize,
}

/// Serves `app` from this process (with `shape.workers` threads) and `shape.processes - 1`
/// worker processes. The key-value socket is served even with one process, so that
/// `nimbus users` and `nimbus keys` work while the app runs.
pub fn serve(
    app: Arc<App>,
    manifest_path: &Path,
    data_dir: &Path,
    listen: SocketAddr,
    shape: Shape,
    on_ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let processes = shape.processes;
    let socket = data_dir.join("kv.sock");
    if socket.exists() {
        std::fs::remove_file(&socket)
            .with_context(|| format!("cannot remove the stale socket {}", socket.display()))?;
    }
    let listener = UnixListener::bind(&socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    let kv = Arc::clone(&app.kv);
    std::thread::Builder::new()
        .name("nimbus-kv-owner".into())
        .spawn(move || nimbus_kv::remote::serve(kv, listener))
        .context("cannot start the key-value owner thread")?;
    let mut workers: Vec<Child> = Vec::new();
    let result = crate::gateway::serve(app, listen, shape.workers, |bound| {
        for index in 1..processes {
            match start_worker(manifest_path, data_dir, &socket, bound) {
                Ok(child) => workers.push(child),
                Err(e) => tracing::error!("worker process {index} did not start: {e:#}"),
            }
        }
        if processes > 1 {
            tracing::info!(processes = workers.len() + 1, "worker processes serving");
        }
        on_ready(bound);
    });
    for mut worker in workers {
        let _ = worker.kill();
        let _ = worker.wait();
    }
    let _ = std::fs::remove_file(&socket);
    result
}

fn start_worker(
    manifest_path: &Path,
    data_dir: &Path,
    socket: &Path,
    bound: SocketAddr,
) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find the nimbus executable")?;
    let mut child = Command::new(exe)
        .arg("up")
        .arg(manifest_path)
        .arg("--listen")
        .arg(bound.to_string())
        .arg("--data")
        .arg(data_dir)
        .args(["--processes", "1", "--workers", "1", "--kv-socket"])
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot spawn a worker process")?;
    let stdout = child.stdout.take().context("worker stdout")?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|line| line.starts_with("nimbus listening on "));
        let _ = ready_tx.send(ready);
        for _ in lines {}
    });
    match ready_rx.recv_timeout(WORKER_START_TIMEOUT) {
        Ok(true) => Ok(child),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("it exited or did not listen within {WORKER_START_TIMEOUT:?}")
        }
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
