//! OpenTelemetry traces, exported over OTLP (HTTP/protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: one span per request, a child for the
//! invocation, and a child of that for each host call a guest makes (key-value, objects, auth,
//! queues, outbound HTTP), in the trace of the request's `traceparent` when it came with one.
//!
//! Spans are made with the OpenTelemetry API itself rather than as `tracing` spans bridged to
//! it: a bridged span goes through the subscriber's span registry and every layer's filter on
//! each poll of the future it instruments, for attributes and parents this module can set
//! directly. A span's parent is the OpenTelemetry context current when it is made, which
//! [`InSpan::in_span`] keeps current while the future it wraps is polled. Without an exporter no
//! span is made and a [`Span`] is an empty value.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::Poll;

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};

/// What makes the spans of this process, once [`export`] has set it up.
static TRACER: OnceLock<opentelemetry_sdk::trace::SdkTracer> = OnceLock::new();

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

/// Makes this process's spans from now on and exports them when they end; the returned value
/// flushes what is still queued when it is dropped. Once per process: a second call is an
/// error and leaves the first exporter as it is.
pub fn export() -> Result<Exporting, String> {
    if TRACER.get().is_some() {
        return Err("traces are exported already".to_string());
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|error| format!("cannot export traces: {error}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("nimbus")
        .build();
    let (queue, batch) = batch_sizes(|name| std::env::var(name).ok());
    let config = opentelemetry_sdk::trace::BatchConfigBuilder::default()
        .with_max_queue_size(queue)
        .with_max_export_batch_size(batch);
    let processor = opentelemetry_sdk::trace::BatchSpanProcessor::builder(exporter)
        .with_batch_config(config.build())
        .build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource)
        .build();
    if TRACER.set(provider.tracer("nimbus")).is_err() {
        return Err("traces are exported already".to_string());
    }
    Ok(Exporting(provider))
}

/// Spans queued for export, and spans one export request carries, where the operator's
/// `OTEL_BSP_MAX_QUEUE_SIZE` and `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` do not say: four times the
/// SDK's defaults (2048 and 512). Every export request costs the same fixed work on both ends,
/// whatever it carries, and a busy host ends two spans or more per request; the collector's
/// own batch processor sends 8192 at a time.
const QUEUED_SPANS: usize = 8192;
const SPANS_PER_EXPORT: usize = 2048;

/// The queue and batch sizes: each from its environment variable (`var`) where that holds a
/// number, as the SDK reads it, and ours otherwise. Both are always set, so that the SDK's
/// one clamp (a batch no larger than the queue) applies to the sizes in force, not to its own
/// defaults.
fn batch_sizes(var: impl Fn(&str) -> Option<String>) -> (usize, usize) {
    use opentelemetry_sdk::trace::{OTEL_BSP_MAX_EXPORT_BATCH_SIZE, OTEL_BSP_MAX_QUEUE_SIZE};
    let size = |name, ours| {
        var(name)
            .and_then(|value| value.parse::<usize>().ok())
            .unwrap_or(ours)
    };
    (
        size(OTEL_BSP_MAX_QUEUE_SIZE, QUEUED_SPANS),
        size(OTEL_BSP_MAX_EXPORT_BATCH_SIZE, SPANS_PER_EXPORT),
    )
}

/// A span in the making, carried as the OpenTelemetry context whose span it is; empty when
/// traces are not exported. Clones are the same span, which ends when the last is dropped.
#[derive(Clone, Default)]
pub struct Span(Option<Context>);

impl Span {
    /// The span of one HTTP request, matched to the route `route` (a path pattern), in the
    /// trace `trace_parent` names when there is one (a header the edge has checked the shape
    /// of). Named and described as OpenTelemetry's HTTP server conventions say: `GET
    /// /todos/:id`, with a method outside the standard ones as `_OTHER` (named `HTTP`), so
    /// that a client cannot mint span names.
    pub fn request(method: &http::Method, route: Option<&str>, trace_parent: Option<&str>) -> Self {
        let Some(tracer) = TRACER.get() else {
            return Self(None);
        };
        let known = known_method(method);
        let mut name = String::from(known.unwrap_or("HTTP"));
        let mut attributes = Vec::with_capacity(3);
        attributes.push(KeyValue::new(
            "http.request.method",
            known.unwrap_or("_OTHER"),
        ));
        if let Some(route) = route {
            name.push(' ');
            name.push_str(route);
            attributes.push(KeyValue::new("http.route", route.to_string()));
        }
        let builder = tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_attributes(attributes);
        let parent = match trace_parent.and_then(remote_parent) {
            Some(remote) => Context::new().with_remote_span_context(remote),
            None => Context::new(),
        };
        let span = tracer.build_with_context(builder, &parent);
        Self(Some(parent.with_span(span)))
    }

    /// The span of one invocation of `component`, a child of the current span.
    pub fn invocation(component: &str, attempt: u32) -> Self {
        let Some(tracer) = TRACER.get() else {
            return Self(None);
        };
        let builder = tracer
            .span_builder(format!("invoke {component}"))
            .with_attributes([
                KeyValue::new("component", component.to_string()),
                KeyValue::new("attempt", i64::from(attempt)),
            ]);
        Self::child(tracer, builder)
    }

    /// The span of one host call a guest makes (`kv.get`, `objects.put`, ...), a child of the
    /// current span (the invocation's).
    pub fn host_call(name: &'static str) -> Self {
        let Some(tracer) = TRACER.get() else {
            return Self(None);
        };
        Self::child(tracer, tracer.span_builder(name))
    }

    /// The span of one outbound HTTP request a guest makes (`http.client`), a child of the
    /// current span: a client span, in the conventions' words.
    pub fn outbound_request() -> Self {
        let Some(tracer) = TRACER.get() else {
            return Self(None);
        };
        Self::child(
            tracer,
            tracer
                .span_builder("http.client")
                .with_kind(SpanKind::Client),
        )
    }

    /// The span current where this is called, to carry into a task spawned from there, whose
    /// spans are then its children.
    pub fn current() -> Self {
        if TRACER.get().is_none() {
            return Self(None);
        }
        Self(Some(Context::current()))
    }

    fn child(
        tracer: &opentelemetry_sdk::trace::SdkTracer,
        builder: opentelemetry::trace::SpanBuilder,
    ) -> Self {
        Self(Some(Context::map_current(|current| {
            current.with_span(tracer.build_with_context(builder, current))
        })))
    }

    /// Records the HTTP status the request was answered with; a server error marks the span
    /// failed, as the HTTP server conventions say (a 4xx is the client's doing, not the
    /// server's).
    pub fn record_status(&self, status: u16) {
        if let Some(context) = &self.0 {
            let span = context.span();
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            if status >= 500 {
                span.set_status(opentelemetry::trace::Status::error(""));
            }
        }
    }

    /// The W3C `traceparent` naming this span as the parent, for a request it makes; `None`
    /// when the span is not exported (or is no span: the current one outside any).
    pub fn trace_parent(&self) -> Option<String> {
        let context = self.0.as_ref()?;
        let span = context.span();
        let span = span.span_context();
        if !span.is_valid() {
            return None;
        }
        Some(format!(
            "00-{:032x}-{:016x}-{:02x}",
            span.trace_id(),
            span.span_id(),
            span.trace_flags()
        ))
    }
}

/// Runs a future within a [`Span`], as `tracing::Instrument` does for `tracing`'s spans.
pub trait InSpan: Future + Sized {
    /// This future, with `span` current while it is polled (the parent of the spans made
    /// inside it). The span ends when its last clone is dropped: this future's, once it is
    /// done with, unless a clone was kept elsewhere.
    fn in_span(self, span: Span) -> Within<Self> {
        Within { inner: self, span }
    }
}

impl<F: Future> InSpan for F {}

pin_project_lite::pin_project! {
    /// A future run within a [`Span`]; see [`InSpan::in_span`].
    pub struct Within<F> {
        #[pin]
        inner: F,
        span: Span,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // Made current and undone within this one poll, so no context outlives it on this
        // thread for the next task to find. That holds as long as nothing inside switches
        // stacks mid-poll with the guard held: wasmtime's fibers run a guest and its host calls
        // within the poll of the future that called it, and return to it before it ends.
        let _current = this.span.0.as_ref().map(|context| context.clone().attach());
        this.inner.poll(task)
    }
}

/// `method` when it is one the HTTP conventions know (as a `'static` name, which spans keep
/// without copying).
fn known_method(method: &http::Method) -> Option<&'static str> {
    use http::Method;
    Some(match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => return None,
    })
}

/// The caller's span from its `traceparent`. Its trace id is kept and its sampling decision
/// is not: a client must not be able to keep its requests out of the export.
fn remote_parent(trace_parent: &str) -> Option<SpanContext> {
    let mut parts = trace_parent.split('-');
    let (_version, trace_id, span_id) = (parts.next()?, parts.next()?, parts.next()?);
    let trace_id = TraceId::from_hex(trace_id).ok()?;
    let span_id = SpanId::from_hex(span_id).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callers_span_is_taken_from_its_traceparent_and_always_sampled() {
        let parent = remote_parent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
            .expect("a valid traceparent");
        assert_eq!(
            parent.trace_id(),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex")
        );
        assert_eq!(
            parent.span_id(),
            SpanId::from_hex("00f067aa0ba902b7").expect("hex")
        );
        assert!(parent.is_sampled());
        assert!(parent.is_remote());
        for invalid in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736",
            "00-not-hex-01",
        ] {
            assert!(remote_parent(invalid).is_none(), "{invalid}");
        }
    }

    #[test]
    fn a_spans_traceparent_keeps_its_leading_zeros_and_an_empty_context_has_none() {
        let parent = "00-004bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01";
        let remote = remote_parent(parent).expect("a valid traceparent");
        let span = Span(Some(Context::new().with_remote_span_context(remote)));
        assert_eq!(span.trace_parent().as_deref(), Some(parent));
        assert_eq!(Span(Some(Context::new())).trace_parent(), None);
    }

    /// An environment holding `pairs`.
    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_string())
        }
    }

    #[test]
    fn larger_batches_unless_the_operator_sets_a_number() {
        assert_eq!(batch_sizes(env(&[])), (QUEUED_SPANS, SPANS_PER_EXPORT));
        assert_eq!(
            batch_sizes(env(&[("OTEL_BSP_MAX_QUEUE_SIZE", "1000")])),
            (1000, SPANS_PER_EXPORT)
        );
        // A batch larger than the SDK's default queue, set alone, stands against ours.
        assert_eq!(
            batch_sizes(env(&[("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096")])),
            (QUEUED_SPANS, 4096)
        );
        for unreadable in ["", "8k", " 4096", "-1"] {
            let pairs = [
                ("OTEL_BSP_MAX_QUEUE_SIZE", unreadable),
                ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", unreadable),
            ];
            assert_eq!(
                batch_sizes(env(&pairs)),
                (QUEUED_SPANS, SPANS_PER_EXPORT),
                "{unreadable:?}"
            );
        }
    }

    #[test]
    fn only_the_standard_methods_are_named() {
        assert_eq!(known_method(&http::Method::DELETE), Some("DELETE"));
        let minted = http::Method::from_bytes(b"X-ANYTHING-AT-ALL").expect("a method");
        assert_eq!(known_method(&minted), None);
    }

    #[test]
    fn without_an_exporter_no_span_is_made() {
        let span = Span::request(&http::Method::GET, Some("/hello"), None);
        assert!(span.0.is_none());
        assert_eq!(span.trace_parent(), None);
        assert!(Span::host_call("kv.get").0.is_none());
    }
}
