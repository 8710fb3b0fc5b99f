//! Host logs: `tracing` to stderr, filtered by `NIMBUS_LOG` (or `RUST_LOG`), `info` by default.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the event's
    /// fields (`request_id`, `component`, ...).
    Json,
}

/// Lines queued for the log thread before a caller that logs has to wait. A guest's output
/// line may be up to 64 KiB, so this bounds what a slow stderr can pile up in memory.
const QUEUED_LINES: usize = 4096;

/// Installs the log subscriber once. Lines are written to stderr by a thread of their own, so
/// that a request does not wait for each write to the terminal or pipe behind it (only when
/// [`QUEUED_LINES`] are waiting); the returned guard flushes what is still queued when it is
/// dropped, at the end of `main`.
pub fn init(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = std::env::var("NIMBUS_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new("info,wasmtime_cranelift=warn,cranelift=warn"));
    // Not lossy: under a flood of lines, callers wait rather than lose lines silently.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("nimbus-log")
        .finish(std::io::stderr());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => logs.json().flatten_event(true).try_init(),
    };
    guard
}
