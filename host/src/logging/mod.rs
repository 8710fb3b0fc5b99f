//! Host logs: `tracing` to stderr, filtered by `NIMBUS_LOG` (or `RUST_LOG`), `info` by default;
//! and, once a serving host opens it, every line as JSON to the host log as well (see
//! [`crate::host_log`]), which `nimbus logs` reads.

mod batched;
mod json;

use std::io::IsTerminal as _;
use std::sync::{Mutex, OnceLock};

use batched::{Batched, Guard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
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

fn filter(tracing_spans: bool) -> EnvFilter {
    let filter = std::env::var("NIMBUS_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new("info,wasmtime_cranelift=warn,cranelift=warn"));
    // The spans made for export are off unless they are exported, whatever else is logged.
    let level = if tracing_spans { "info" } else { "off" };
    match format!("{}={level}", crate::traces::TARGET).parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// The tracer that exports spans, when an OTLP endpoint is configured and the exporter could
/// be built.
fn exporting_tracer() -> Option<opentelemetry_sdk::trace::SdkTracer> {
    if !crate::traces::configured() {
        return None;
    }
    match crate::traces::tracer() {
        Ok((tracer, exporting)) => {
            if let Ok(mut slot) = TRACES.lock() {
                *slot = Some(exporting);
            }
            Some(tracer)
        }
        Err(why) => {
            eprintln!("nimbus: {why}; traces are not exported");
            None
        }
    }
}

/// Only the spans made for export, for the exporting layer: log events inside them (a guest's
/// output, say) are not sent along.
fn only_exported_spans() -> tracing_subscriber::filter::Targets {
    tracing_subscriber::filter::Targets::new()
        .with_target(crate::traces::TARGET, tracing::Level::INFO)
}

/// Installs the log subscriber once; the returned guard writes what is still waiting for
/// stderr when it is dropped, at the end of `main`. With JSON on stderr, each line is
/// formatted once and the same bytes go to stderr and the host log; with text, the host log
/// gets its JSON from a second formatting.
pub fn init(format: LogFormat) -> impl Drop {
    let (stderr, guard) = batched::batched(std::io::stderr(), "nimbus-log");
    let tracer = exporting_tracer();
    let filter = filter(tracer.is_some());
    let most_verbose = Layer::<tracing_subscriber::Registry>::max_level_hint(&filter);
    let registry = tracing_subscriber::registry().with(filter);
    let traces = move || {
        tracer.clone().map(|tracer| {
            // Only the attributes the spans name themselves: the layer's defaults would add
            // where in nimbus' source and on which thread each span was made, its busy and
            // idle time and its `tracing` target, which tell an operator nothing about the
            // app, and would activate an OpenTelemetry context on every poll of an
            // instrumented future, which nothing here reads (a span's context is taken from
            // the span itself).
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_location(false)
                .with_threads(false)
                .with_tracked_inactivity(false)
                .with_target(false)
                .with_context_activation(false)
                .with_filter(only_exported_spans())
        })
    };
    let _ = match format {
        LogFormat::Json => registry
            .with(traces())
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(json::JsonLines)
                    .with_writer(move || Tee {
                        stderr: stderr.clone(),
                        host_log: HOST_LOG.get().cloned(),
                    })
                    .with_filter(not_exported_spans()),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(traces())
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || stderr.clone())
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_filter(not_exported_spans()),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(json::JsonLines)
                    .with_writer(|| HostLogWriter(HOST_LOG.get().cloned()))
                    .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                        HOST_LOG.get().is_some() && meta.target() != crate::traces::TARGET
                    })),
            )
            .try_init(),
    };
    limit_log_crate(most_verbose);
    guard
}

/// Lets through the `log` crate (which wasmtime and others log with) only what the
/// `NIMBUS_LOG` filter can keep. The subscriber's own hint is no help: the per-layer filters above let everything
/// through for the global filter to judge, so the hint says TRACE, and every `log::trace!`
/// on an instance's path (dozens per instantiation) would be made into an event only for the
/// filter to drop it.
fn limit_log_crate(most_verbose: Option<tracing_subscriber::filter::LevelFilter>) {
    use tracing_log::AsLog as _;
    if let Some(level) = most_verbose {
        tracing_log::log::set_max_level(level.as_log());
    }
}

/// Everything but the spans made for trace export, which log lines neither show nor need:
/// a log layer that saw them would format their fields for nothing.
fn not_exported_spans() -> tracing_subscriber::filter::Targets {
    tracing_subscriber::filter::Targets::new()
        .with_default(tracing::Level::TRACE)
        .with_target(
            crate::traces::TARGET,
            tracing_subscriber::filter::LevelFilter::OFF,
        )
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
