//! Host logs: `tracing` to stderr, filtered by `NIMBUS_LOG` (or `RUST_LOG`), `info` by default;
//! and, once a serving host opens it, every line as JSON to the host log as well (see
//! [`crate::host_log`]), which `nimbus logs` reads.

use std::io::IsTerminal as _;
use std::sync::{Mutex, OnceLock};

use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the event's
    /// fields (`request_id`, `component`, ...).
    Json,
}

/// Lines queued for a log thread before a caller that logs has to wait. A guest's output
/// line may be up to 64 KiB, so this bounds what a slow stderr can pile up in memory.
const QUEUED_LINES: usize = 4096;

/// Where this process's JSON lines for the host log go, once opened.
static HOST_LOG: OnceLock<NonBlocking> = OnceLock::new();
/// The host log's writer thread, flushed by [`flush`].
static HOST_LOG_GUARD: Mutex<Option<WorkerGuard>> = Mutex::new(None);

/// Lines are written by a thread of their own, so that a request does not wait for each write
/// (only when [`QUEUED_LINES`] are waiting). Not lossy: under a flood of lines, callers wait
/// rather than lose lines silently.
fn off_thread(
    writer: impl std::io::Write + Send + 'static,
    name: &str,
) -> (NonBlocking, WorkerGuard) {
    tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name(name)
        .finish(writer)
}

fn filter() -> EnvFilter {
    std::env::var("NIMBUS_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new("info,wasmtime_cranelift=warn,cranelift=warn"))
}

/// Installs the log subscriber once; the returned guard flushes what is still queued for
/// stderr when it is dropped, at the end of `main`.
pub fn init(format: LogFormat) -> WorkerGuard {
    let (stderr, guard) = off_thread(std::io::stderr(), "nimbus-log");
    let to_stderr = tracing_subscriber::fmt::layer().with_writer(stderr);
    let to_stderr = match format {
        LogFormat::Text => to_stderr.with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => to_stderr.json().flatten_event(true).boxed(),
    };
    let to_host_log = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_writer(|| HostLogWriter(HOST_LOG.get().cloned()))
        .with_filter(tracing_subscriber::filter::filter_fn(|_| {
            HOST_LOG.get().is_some()
        }));
    let _ = tracing_subscriber::registry()
        .with(filter())
        .with(to_stderr)
        .with(to_host_log)
        .try_init();
    guard
}

/// Sends this process's log lines, as JSON, to `writer` too (once per process).
pub fn open_host_log(writer: impl std::io::Write + Send + 'static) {
    let (writer, guard) = off_thread(writer, "nimbus-host-log");
    if HOST_LOG.set(writer).is_ok()
        && let Ok(mut slot) = HOST_LOG_GUARD.lock()
    {
        *slot = Some(guard);
    }
}

/// Writes what is still queued for the host log.
pub fn flush() {
    if let Ok(mut slot) = HOST_LOG_GUARD.lock() {
        drop(slot.take());
    }
}

/// One event's writer to the host log, or nowhere before it is opened.
struct HostLogWriter(Option<NonBlocking>);

impl std::io::Write for HostLogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.0 {
            Some(writer) => writer.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.0 {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }
}
