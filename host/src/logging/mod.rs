//! Host logs: `tracing` to stderr, filtered by `NIMBUS_LOG` (or `RUST_LOG`), `info` by default;
//! and, once a serving host opens it, every line as JSON to the host log as well (see
//! [`crate::host_log`]), which `nimbus logs` reads.

mod batched;
mod invocation;
mod json;

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use batched::{Batched, Guard};
pub use invocation::InvocationRecord;
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

/// The host log's output in JSON mode, where the one writer of this process's lines writes
/// each batch to stderr and, from the first batch it takes after this is set, here too.
static JSON_HOST_LOG: OnceLock<HostLogOutput> = OnceLock::new();
/// The host log's own writer in text mode, where its lines are formatted apart from stderr's.
static TEXT_HOST_LOG: OnceLock<Batched> = OnceLock::new();
/// This process's log writers, which [`flush`] stops once they have written every line.
static WRITERS: Mutex<Vec<Guard>> = Mutex::new(Vec::new());
/// Whether [`init`] installed the JSON format, which decides where [`open_host_log`] puts the
/// host log.
static JSON_LINES: AtomicBool = AtomicBool::new(false);
/// The JSON mode's writer, for lines appended without a `tracing` event; unset when such
/// lines must go through `tracing` (text, or a filter that judges by the event).
static DIRECT: OnceLock<Batched> = OnceLock::new();

type HostLogOutput = Mutex<Box<dyn std::io::Write + Send>>;

/// What flushes exported traces at exit, when they are.
static TRACES: Mutex<Option<crate::traces::Exporting>> = Mutex::new(None);

/// The log filter the operator gave (`NIMBUS_LOG`, else `RUST_LOG`, else the default).
fn operator_filter() -> OperatorFilter {
    filter_from(
        std::env::var("NIMBUS_LOG")
            .ok()
            .or_else(|| std::env::var("RUST_LOG").ok()),
    )
}

struct OperatorFilter {
    filter: EnvFilter,
    /// Whether it has a directive in brackets (`[span]`, `target[{field}]`, ...): such a
    /// directive judges an event by its span or by the fields its callsite declares, which a
    /// check made without the event (`tracing::enabled!`) cannot see.
    judges_by_event: bool,
}

/// The filter `spec` says, or the default when there is none or it does not parse.
fn filter_from(spec: Option<String>) -> OperatorFilter {
    spec.and_then(|spec| {
        Some(OperatorFilter {
            filter: EnvFilter::try_new(&spec).ok()?,
            judges_by_event: spec.contains('['),
        })
    })
    .unwrap_or_else(|| OperatorFilter {
        filter: EnvFilter::new(DEFAULT_FILTER),
        judges_by_event: false,
    })
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
/// configured; what is still waiting to be written is written by [`flush`], or when the
/// returned guard is dropped, at the end of `main`. With JSON, each line is formatted once and
/// one writer puts the same bytes on stderr and in the host log; with text, the host log gets
/// its JSON from a second formatting and a writer of its own.
pub fn init(format: LogFormat) -> impl Drop {
    export_traces();
    let OperatorFilter {
        filter: operator_filter,
        judges_by_event,
    } = operator_filter();
    let log_crate_level = log_crate_level(&operator_filter);
    let registry = tracing_subscriber::registry().with(operator_filter);
    let _ = match format {
        LogFormat::Json => {
            let output = StderrAndHostLog {
                stderr: std::io::stderr(),
                host_log: &JSON_HOST_LOG,
            };
            let lines = registered_writer(output, "nimbus-log");
            let lines_for_direct = lines.clone();
            let installed = registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .event_format(json::JsonLines)
                        .with_writer(move || lines.clone()),
                )
                .try_init();
            if installed.is_ok() {
                JSON_LINES.store(true, Ordering::Relaxed);
                if !judges_by_event {
                    let _ = DIRECT.set(lines_for_direct);
                }
            }
            installed
        }
        LogFormat::Text => {
            let stderr = registered_writer(std::io::stderr(), "nimbus-log");
            registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(move || stderr.clone())
                        .with_ansi(std::io::stderr().is_terminal()),
                )
                .with(
                    tracing_subscriber::fmt::layer()
                        .event_format(json::JsonLines)
                        .with_writer(|| HostLogWriter(TEXT_HOST_LOG.get().cloned()))
                        .with_filter(tracing_subscriber::filter::filter_fn(|_| {
                            TEXT_HOST_LOG.get().is_some()
                        })),
                )
                .try_init()
        }
    };
    // What `try_init` set the `log` crate to let through is the subscriber's hint, which is
    // no help with text: the host log's per-layer filter lets everything through for the
    // global filter to judge, so it says TRACE, and every `log::trace!` on an instance's path
    // (wasmtime logs with the `log` crate) would be made into an event only for the filter to
    // drop it.
    tracing_log::log::set_max_level(log_crate_level);
    Flush
}

/// A batched writer into `output`, whose thread [`flush`] stops.
fn registered_writer(output: impl std::io::Write + Send + 'static, name: &str) -> Batched {
    let (writer, guard) = batched::batched(output, name);
    writers().push(guard);
    writer
}

/// The registered writers, even after a panic while they were held: a log that stopped
/// writing for that reason would hide what followed the panic.
fn writers() -> std::sync::MutexGuard<'static, Vec<Guard>> {
    WRITERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Calls [`flush`] when dropped.
struct Flush;

impl Drop for Flush {
    fn drop(&mut self) {
        flush();
    }
}

/// The most the `log` crate needs to let through for `filter`.
fn log_crate_level(filter: &EnvFilter) -> tracing_log::log::LevelFilter {
    use tracing_log::AsLog as _;
    filter
        .max_level_hint()
        .map_or(tracing_log::log::LevelFilter::Trace, |level| level.as_log())
}

/// The JSON mode's output: each batch of lines to the host log, once it is open, and to stderr.
/// One thread writes both, so a line is copied once on the path of the request that logs it; the
/// price is that an output that blocks (a stalled disk under the host log, a stderr nobody
/// reads) holds the other's lines back until it moves, as it would hold back the requests that
/// log once the batch buffer is full.
struct StderrAndHostLog<E> {
    stderr: E,
    host_log: &'static OnceLock<HostLogOutput>,
}

impl<E: std::io::Write> std::io::Write for StderrAndHostLog<E> {
    fn write(&mut self, lines: &[u8]) -> std::io::Result<usize> {
        // A log cannot report its own failure: one output failing does not keep the lines
        // from the other. The host log goes first: it is the one `nimbus logs` reads.
        if let Some(host_log) = self.host_log.get()
            && let Ok(mut host_log) = host_log.lock()
        {
            let _ = host_log.write_all(lines).and_then(|()| host_log.flush());
        }
        self.stderr.write_all(lines)?;
        Ok(lines.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stderr.flush()
    }
}

/// Sends this process's log lines, as JSON, to `writer` too (once per process).
pub fn open_host_log(writer: impl std::io::Write + Send + 'static) {
    if JSON_LINES.load(Ordering::Relaxed) {
        let _ = JSON_HOST_LOG.set(Mutex::new(Box::new(writer)));
    } else {
        let (writer, guard) = batched::batched(writer, "nimbus-host-log");
        if TEXT_HOST_LOG.set(writer).is_ok() {
            writers().push(guard);
        }
    }
}

/// Exports the last traces and writes every line still waiting; lines logged after this are
/// dropped.
pub fn flush() {
    if let Ok(mut slot) = TRACES.lock() {
        drop(slot.take());
    }
    let stopping = std::mem::take(&mut *writers());
    drop(stopping);
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

    /// A host log that refuses every line.
    struct Refusing;

    impl std::io::Write for Refusing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_reach_the_host_log_once_it_is_open_and_stderr_when_the_host_log_fails() {
        use std::io::Write as _;
        let host_log: &'static OnceLock<HostLogOutput> = Box::leak(Box::new(OnceLock::new()));
        let stderr = test_sink::Sink::default();
        let mut output = StderrAndHostLog {
            stderr: stderr.clone(),
            host_log,
        };
        output.write_all(b"before\n").expect("write");
        let file = test_sink::Sink::default();
        assert!(host_log.set(Mutex::new(Box::new(file.clone()))).is_ok());
        output.write_all(b"after\n").expect("write");
        assert_eq!(&*stderr.0.lock().expect("stderr"), b"before\nafter\n");
        assert_eq!(&*file.0.lock().expect("file"), b"after\n");

        let refusing: &'static OnceLock<HostLogOutput> = Box::leak(Box::new(OnceLock::new()));
        assert!(refusing.set(Mutex::new(Box::new(Refusing))).is_ok());
        let stderr = test_sink::Sink::default();
        let mut output = StderrAndHostLog {
            stderr: stderr.clone(),
            host_log: refusing,
        };
        output.write_all(b"kept\n").expect("write");
        assert_eq!(&*stderr.0.lock().expect("stderr"), b"kept\n");
    }

    #[test]
    fn only_a_filter_with_brackets_judges_by_the_event() {
        let judges = |spec: Option<&str>| filter_from(spec.map(str::to_string)).judges_by_event;
        assert!(!judges(None));
        assert!(!judges(Some("info,nimbus::invocation=off")));
        assert!(judges(Some("warn,nimbus::invocation[{failure}]=info")));
        assert!(judges(Some("[request]=debug")));
        // A spec that does not parse falls back to the default, which has no brackets.
        assert!(!judges(Some("info,[{=")));
    }

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
