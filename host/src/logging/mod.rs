//! Host logs: `tracing` to stderr, filtered by `NIMBUS_LOG` (or `RUST_LOG`), `info` by default;
//! and, once a serving host opens it, every line as JSON to the host log as well (see
//! [`crate::host_log`]), which `nimbus logs` reads.

mod batched;
mod json;

use std::io::IsTerminal as _;
use std::sync::{Mutex, OnceLock};

use batched::{Batched, Guard};
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

/// Where this process's JSON lines for the host log go, once opened.
static HOST_LOG: OnceLock<Batched> = OnceLock::new();
/// The host log's writer thread, flushed by [`flush`].
static HOST_LOG_GUARD: Mutex<Option<Guard>> = Mutex::new(None);

/// What flushes exported traces at exit, when they are.
static TRACES: Mutex<Option<crate::traces::Exporting>> = Mutex::new(None);

/// The log filter the operator gave (`NIMBUS_LOG`, else `RUST_LOG`, else the default).
fn operator_filter() -> EnvFilter {
    std::env::var("NIMBUS_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER))
}

/// What is logged when the operator says nothing: INFO, but the compiler's chatter.
const DEFAULT_FILTER: &str = "info,wasmtime_cranelift=warn,cranelift=warn";

/// Sets up trace export when an OTLP endpoint is configured, keeping what flushes it at exit.
fn export_traces() {
    if !crate::traces::configured() {
        return;
    }
    match crate::traces::export() {
        Ok(exporting) => {
            if let Ok(mut slot) = TRACES.lock() {
                *slot = Some(exporting);
            }
        }
        Err(why) => eprintln!("nimbus: {why}; traces are not exported"),
    }
}

/// Installs the log subscriber once, and sets up trace export when an OTLP endpoint is
/// configured; the returned guard writes what is still waiting for stderr when it is
/// dropped, at the end of `main`. With JSON on stderr, each line is
/// formatted once and the same bytes go to stderr and the host log; with text, the host log
/// gets its JSON from a second formatting.
pub fn init(format: LogFormat) -> impl Drop {
    let (stderr, guard) = batched::batched(std::io::stderr(), "nimbus-log");
    export_traces();
    let operator_filter = operator_filter();
    let log_crate_level = log_crate_level(&operator_filter);
    let registry = tracing_subscriber::registry().with(operator_filter);
    let _ = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(json::JsonLines)
                    .with_writer(move || Tee {
                        stderr: stderr.clone(),
                        host_log: HOST_LOG.get().cloned(),
                    }),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || stderr.clone())
                    .with_ansi(std::io::stderr().is_terminal()),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(json::JsonLines)
                    .with_writer(|| HostLogWriter(HOST_LOG.get().cloned()))
                    .with_filter(tracing_subscriber::filter::filter_fn(|_| {
                        HOST_LOG.get().is_some()
                    })),
            )
            .try_init(),
    };
    // What `try_init` set the `log` crate to let through is the subscriber's hint, which is
    // no help with text: the host log's per-layer filter lets everything through for the
    // global filter to judge, so it says TRACE, and every `log::trace!` on an instance's path
    // (wasmtime logs with the `log` crate) would be made into an event only for the filter to
    // drop it.
    tracing_log::log::set_max_level(log_crate_level);
    guard
}

/// The most the `log` crate needs to let through for `filter`.
fn log_crate_level(filter: &EnvFilter) -> tracing_log::log::LevelFilter {
    use tracing_log::AsLog as _;
    filter
        .max_level_hint()
        .map_or(tracing_log::log::LevelFilter::Trace, |level| level.as_log())
}

/// One event's JSON line, to stderr and (once opened) the host log.
struct Tee {
    stderr: Batched,
    host_log: Option<Batched>,
}

impl std::io::Write for Tee {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        if let Some(host_log) = &mut self.host_log {
            host_log.write_all(line)?;
        }
        self.stderr.write(line)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends this process's log lines, as JSON, to `writer` too (once per process).
pub fn open_host_log(writer: impl std::io::Write + Send + 'static) {
    let (writer, guard) = batched::batched(writer, "nimbus-host-log");
    if HOST_LOG.set(writer).is_ok()
        && let Ok(mut slot) = HOST_LOG_GUARD.lock()
    {
        *slot = Some(guard);
    }
}

/// Writes what is still queued for the host log, and exports the last traces.
pub fn flush() {
    if let Ok(mut slot) = TRACES.lock() {
        drop(slot.take());
    }
    if let Ok(mut slot) = HOST_LOG_GUARD.lock() {
        drop(slot.take());
    }
}

/// One event's writer to the host log, or nowhere before it is opened.
struct HostLogWriter(Option<Batched>);

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

/// An output tests read back.
#[cfg(test)]
mod test_sink {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    pub struct Sink(pub Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("sink").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_log::log::LevelFilter;

    use super::*;

    #[test]
    fn the_log_crate_lets_through_what_the_operators_filter_can_keep_and_no_more() {
        let level = |spec: &str| log_crate_level(&EnvFilter::new(spec));
        assert_eq!(level("off"), LevelFilter::Off);
        assert_eq!(level("warn"), LevelFilter::Warn);
        assert_eq!(level(DEFAULT_FILTER), LevelFilter::Info);
        // A single target asking for more raises the whole crate's level: the filter itself
        // keeps the rest out.
        assert_eq!(level("warn,wasmtime=debug"), LevelFilter::Debug);
        // A filter on span field values can let anything through inside such a span.
        assert_eq!(
            level("warn,[request{status=500}]=trace"),
            LevelFilter::Trace
        );
    }
}
