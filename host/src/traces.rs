//! OpenTelemetry traces, exported over OTLP (HTTP/protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: one span per request, a child for the
//! invocation, and a child of that for each host call a guest makes (key-value, objects, auth,
//! outbound HTTP), in the trace of the request's `traceparent` when it came with one.
//!
//! The spans are `tracing` spans of target [`TARGET`] at INFO level, which the log filter turns
//! off unless traces are exported: then no span is made at all. (Not TRACE: letting TRACE
//! through the filter would wake every `trace!` and `log::trace!` in the dependencies.)

use opentelemetry::trace::TracerProvider as _;
use tracing::Span;

/// The target of every span meant for export.
pub const TARGET: &str = "nimbus::span";

/// Whether this process exports traces: an OTLP endpoint is configured.
pub fn configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

/// The exporting provider; dropped (and so flushed) at exit through [`Exporting`].
pub struct Exporting(opentelemetry_sdk::trace::SdkTracerProvider);

impl Drop for Exporting {
    fn drop(&mut self) {
        let _ = self.0.shutdown();
    }
}

/// The tracer whose finished spans go to the OTLP exporter, and what flushes it at exit.
pub fn tracer() -> Result<(opentelemetry_sdk::trace::SdkTracer, Exporting), String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|error| format!("cannot export traces: {error}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("nimbus")
        .build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    Ok((provider.tracer("nimbus"), Exporting(provider)))
}

/// The span of one HTTP request to `route` (made only when traces are exported), in the
/// trace `trace_parent` names when there is one.
pub fn request_span(
    method: &str,
    route: impl FnOnce() -> String,
    trace_parent: Option<&str>,
) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        "request",
        otel.name = tracing::field::Empty,
        otel.kind = "server",
        http.request.method = method,
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    if span.is_disabled() {
        return span;
    }
    let route = route();
    span.record("otel.name", format!("{method} {route}"));
    span.record("http.route", route.as_str());
    if let Some(parent) = trace_parent {
        use opentelemetry::propagation::TextMapPropagator as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        // The caller's trace id is kept, its sampling decision is not: a client must not be
        // able to keep its requests out of the export (the edge checked the header's shape).
        let sampled = match parent.rsplit_once('-') {
            Some((head, _flags)) => format!("{head}-01"),
            None => parent.to_string(),
        };
        let carrier = std::collections::HashMap::from([("traceparent".to_string(), sampled)]);
        let context =
            opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&carrier);
        let _ = span.set_parent(context);
    }
    span
}

/// The span of one host call a guest makes (`kv.get`, `objects.put`, `http.client`, ...).
pub fn host_call(name: &'static str) -> Span {
    tracing::info_span!(target: TARGET, "host call", otel.name = name)
}

/// The W3C `traceparent` naming `span` as the parent, for a request it makes; `None` when the
/// span is not exported.
pub fn trace_parent_of(span: &Span) -> Option<String> {
    if span.is_disabled() {
        return None;
    }
    use opentelemetry::propagation::TextMapPropagator as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let mut carrier = std::collections::HashMap::new();
    opentelemetry_sdk::propagation::TraceContextPropagator::new()
        .inject_context(&span.context(), &mut carrier);
    carrier.remove("traceparent")
}
