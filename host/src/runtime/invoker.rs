//! The one entry for every invocation: a trigger (an HTTP request today; events later) and its
//! metadata go in, a verdict comes out. Concurrency, deadline, memory limit, a fresh store, the
//! guest's `context` and the guest's output are decided here, so that every trigger gets the
//! same policy; the gateway only turns HTTP into a trigger and a verdict into a response.

use std::sync::Arc;
use std::time::Instant;

use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::component::{HttpKind, LoadedComponent};
use super::counted_body::CountedBody;
use super::engine::Runtime;
use super::invoke::{
    Direction, InvokeError, RecordAnswer, RecordCall, call_proxy, call_record, deadline_ms,
    metered_body,
};
use super::kept::Instance;
use super::slot::acquire_slot;
use crate::bindings::{event_handler, http_handler, types};
use crate::traces::{InSpan as _, Span};

/// Largest request body passed to a record-based handler.
pub const MAX_REQUEST_BODY: usize = 16 << 20;
/// The request header telling `wasi:http` components their start kind.
pub const START_KIND_HEADER: http::HeaderName =
    http::HeaderName::from_static("x-nimbus-start-kind");
pub use crate::capabilities::outbound::TRACE_PARENT_HEADER;

/// What starts an invocation.
pub enum Trigger {
    /// An HTTP request to one of the component's routes.
    Http {
        /// The request; its body is streamed to `wasi:http` components and read whole for
        /// record handlers.
        request: http::Request<axum::body::Body>,
        /// Values of the matched route's `:param` segments and wildcard.
        params: Vec<(String, String)>,
        /// Which of the component's routes matched (an index into its `routes`), if one did.
        route: Option<usize>,
    },
    /// An event: a queue message, a schedule, an object or key-value change.
    Event(event_handler::Event),
}

impl Trigger {
    /// What kind of trigger it is, as the guest's `context` says.
    pub fn kind(&self) -> types::TriggerKind {
        use event_handler::EventKind;
        match self {
            Trigger::Http { .. } => types::TriggerKind::Http,
            Trigger::Event(event) => match event.kind {
                EventKind::QueueMessage(_) => types::TriggerKind::Queue,
                EventKind::Schedule(_) => types::TriggerKind::Schedule,
                EventKind::ObjectCreated(_) | EventKind::ObjectDeleted(_) => {
                    types::TriggerKind::Object
                }
                EventKind::KvChanged(_) => types::TriggerKind::Kv,
            },
        }
    }
}

/// The trigger kind as logs and metrics name it.
pub fn trigger_name(kind: types::TriggerKind) -> &'static str {
    match kind {
        types::TriggerKind::Http => "http",
        types::TriggerKind::Queue => "queue",
        types::TriggerKind::Schedule => "cron",
        types::TriggerKind::Object => "object",
        types::TriggerKind::Kv => "kv",
    }
}

/// Facts about one invocation that do not depend on its trigger's kind.
#[derive(Debug, Clone)]
pub struct Meta {
    /// The request's id (see `context.request-id` in the WIT); logged with the guest's output.
    pub request_id: String,
    /// 1 for a first delivery; higher when an event is retried.
    pub attempt: u32,
    /// Who caused the invocation, when it was verified.
    pub identity: Option<nimbus_auth::Identity>,
    /// The latest moment the invocation may end; the component's `limits.timeout` applies
    /// when it comes sooner.
    pub deadline: Option<Instant>,
    /// The W3C `traceparent` of the trace the invocation belongs to: for an HTTP request, the
    /// client's, when it sent one valid one.
    pub trace_parent: Option<String>,
    /// For an event, how many handlers' writes led to it; 0 otherwise.
    pub hop: u32,
}

impl Meta {
    /// Metadata for a first attempt with no identity and no deadline of its own.
    pub fn new(request_id: String) -> Self {
        Self {
            request_id,
            attempt: 1,
            identity: None,
            deadline: None,
            trace_parent: None,
            hop: 0,
        }
    }
}

/// What a guest produced.
pub enum Output {
    /// A record handler's response, exactly as the guest returned it (not yet checked).
    Record(http_handler::Response),
    /// A `wasi:http` component's response head (not yet checked); its body streams from the
    /// instance, which runs on in its own task until the body ends or the deadline passes.
    Stream(http::Response<CountedBody<HyperOutgoingBody>>),
    /// An event handler's result: an error string asks for a retry.
    Event(Result<(), String>),
}

impl Runtime {
    /// Invokes `component` once for `trigger`, under the component's limits: in a kept
    /// instance when `[component.NAME.instances]` keeps them and one is idle, else in a fresh
    /// one.
    pub async fn invoke(
        &self,
        component: &Arc<LoadedComponent>,
        trigger: Trigger,
        meta: Meta,
    ) -> Result<Output, InvokeError> {
        let _in_flight = component.metrics(trigger.kind()).in_flight();
        let (method, route) = match &trigger {
            Trigger::Http { request, route, .. } => (
                Some(request.method().clone()),
                route
                    .and_then(|index| component.spec.routes.get(index))
                    .map(|route| &route.pattern),
            ),
            Trigger::Event(_) => (None, None),
        };
        let mut line = InvocationLine {
            component,
            request_id: meta.request_id.clone(),
            attempt: meta.attempt,
            trigger: trigger.kind(),
            method,
            route,
            facts: Facts::default(),
            began: Instant::now(),
            written: false,
        };
        // Boxed, like the guest call in `call_record`: the states of these futures run to
        // kilobytes, and every future that holds one unboxed is copied whole each time it
        // moves (into its wrappers, and through `tokio::spawn`'s layers into the task that the
        // gateway spawns), on every request.
        let span = Span::invocation(&component.spec.name, meta.attempt);
        let verdict = Box::pin(self.invoke_once(component, trigger, meta, &mut line.facts))
            .in_span(span)
            .await;
        line.write(&verdict);
        verdict
    }

    async fn invoke_once(
        &self,
        component: &Arc<LoadedComponent>,
        trigger: Trigger,
        meta: Meta,
        facts: &mut Facts,
    ) -> Result<Output, InvokeError> {
        let kind = trigger.kind();
        let (entry, cold) = component.code(self).map_err(|detail| InvokeError::Trap {
            component: component.spec.name.clone(),
            detail,
        })?;
        let (request, params) = match trigger {
            Trigger::Http {
                request, params, ..
            } => (request, params),
            Trigger::Event(event) => {
                if !entry.handles_events() {
                    return Err(InvokeError::Trap {
                        component: component.spec.name.clone(),
                        detail: format!(
                            "it does not export `{}`",
                            super::component::EVENT_HANDLER_EXPORT
                        ),
                    });
                }
                let (kept, slot) = acquire_slot(self, component).await?;
                let deadline = deadline_of(component, &meta);
                let start = *facts.start.insert(start_kind(&kept, cold));
                let hop = meta.hop;
                let context = context(component, meta, deadline, start, kind);
                let (answer, reusable, peak_memory) = call_record(
                    self,
                    component,
                    &entry,
                    kept,
                    RecordCall::Event(event, hop),
                    context,
                    deadline,
                )
                .await;
                facts.peak_memory = Some(peak_memory);
                if let Some(instance) = reusable {
                    component.kept.put(instance, slot.place);
                }
                return match answer? {
                    RecordAnswer::Event(result) => Ok(Output::Event(result)),
                    RecordAnswer::Http(_) => Err(InvokeError::Trap {
                        component: component.spec.name.clone(),
                        detail: "an event call answered like an HTTP handler".into(),
                    }),
                };
            }
        };
        match entry.http() {
            Some(HttpKind::Handler) => {
                // The body is read before a slot is taken, so that clients trickling bodies
                // in cannot hold the component's slots.
                let record = to_record(request, params).await?;
                let (kept, slot) = acquire_slot(self, component).await?;
                let deadline = deadline_of(component, &meta);
                let start = *facts.start.insert(start_kind(&kept, cold));
                let context = context(component, meta, deadline, start, kind);
                let (answer, reusable, peak_memory) = call_record(
                    self,
                    component,
                    &entry,
                    kept,
                    RecordCall::Http(record),
                    context,
                    deadline,
                )
                .await;
                facts.peak_memory = Some(peak_memory);
                if let Some(instance) = reusable {
                    component.kept.put(instance, slot.place);
                }
                match answer? {
                    RecordAnswer::Http(response) => Ok(Output::Record(response)),
                    RecordAnswer::Event(_) => Err(InvokeError::Trap {
                        component: component.spec.name.clone(),
                        detail: "an HTTP call answered like an event handler".into(),
                    }),
                }
            }
            Some(HttpKind::Proxy) => {
                let mut request = request;
                // The slot goes with the instance, which may run on after the response head.
                let acquired = acquire_slot(self, component).await?;
                let start = *facts.start.insert(start_kind(&acquired.0, cold));
                invocation_headers(request.headers_mut(), &meta, start);
                let deadline = deadline_of(component, &meta);
                let response = call_proxy(
                    self,
                    component,
                    &entry,
                    acquired,
                    request,
                    meta.request_id,
                    deadline,
                )
                .await?;
                Ok(Output::Stream(response.map(|body| {
                    metered_body(self.usage(), component, body, Direction::Response)
                })))
            }
            None => Err(InvokeError::Trap {
                component: component.spec.name.clone(),
                detail: "it exports no HTTP handler".into(),
            }),
        }
    }
}

/// The invocation's one log line: who ran, how it started, how it ended and how long it took
/// (for a `wasi:http` component, until its response head; its body may stream on). Written
/// when the invocation returns, or when it is dropped unfinished (the client went away, or the
/// host stopped), so that no invocation goes unlogged; counted in the component's metrics at
/// the same moment.
struct InvocationLine<'a> {
    component: &'a LoadedComponent,
    request_id: String,
    attempt: u32,
    trigger: types::TriggerKind,
    method: Option<http::Method>,
    route: Option<&'a crate::manifest::routes::RoutePattern>,
    facts: Facts,
    began: Instant,
    written: bool,
}

/// What the invocation learns as it goes, for its log line.
#[derive(Default)]
struct Facts {
    /// How its instance started, once one was found or made.
    start: Option<types::StartKind>,
    /// The most linear memory its instance held, when known as it answers (a `wasi:http`
    /// instance may still be running then).
    peak_memory: Option<u64>,
}

impl InvocationLine<'_> {
    fn write(&mut self, verdict: &Result<Output, InvokeError>) {
        self.written = true;
        let outcome = match verdict {
            Ok(Output::Record(answer)) => Ok(answer.status),
            Ok(Output::Stream(response)) => Ok(response.status().as_u16()),
            // An event's status in the HTTP vocabulary, so that logs and metrics read alike:
            // a handled event is a 200, a handler's error result a 500.
            Ok(Output::Event(Ok(()))) => Ok(200),
            Ok(Output::Event(Err(_))) => Err(("handler-error", 500)),
            Err(error) => {
                if let InvokeError::Overloaded { .. } = error {
                    self.component.metrics(self.trigger).rejected();
                }
                Err((error.kind(), error.status().as_u16()))
            }
        };
        self.log(outcome);
    }

    /// Logs and counts the invocation: its status, or what went wrong and the status that
    /// became.
    fn log(&self, outcome: Result<u16, (&'static str, u16)>) {
        let elapsed = self.began.elapsed();
        self.count(
            outcome.unwrap_or_else(|(_, status)| status),
            elapsed.as_secs_f64(),
        );
        crate::logging::InvocationRecord {
            request_id: &self.request_id,
            app: &self.component.app,
            component: &self.component.spec.name,
            trigger: trigger_name(self.trigger),
            method: self.method.as_ref().map(http::Method::as_str),
            route: self.route,
            start: self.facts.start.map_or("none", start_kind_name),
            status: outcome.unwrap_or_else(|(_, status)| status),
            failure: outcome.err().map(|(failure, _)| failure),
            micros: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            peak_memory: self.facts.peak_memory,
            attempt: self.attempt,
        }
        .log();
    }
}

impl InvocationLine<'_> {
    fn count(&self, status: u16, seconds: f64) {
        use crate::metrics::StartLabel;
        let metrics = self.component.metrics(self.trigger);
        if let Some(start) = self.facts.start {
            metrics.started(match start {
                types::StartKind::Cold => StartLabel::Cold,
                types::StartKind::Fresh => StartLabel::Fresh,
                types::StartKind::Warm => StartLabel::Warm,
                types::StartKind::Provisioned => StartLabel::Provisioned,
            });
        }
        metrics.finished(status, seconds);
    }
}

impl Drop for InvocationLine<'_> {
    fn drop(&mut self) {
        if !self.written {
            // nginx's 499: the client closed the request; counted with the client errors.
            self.log(Err(("cancelled", 499)));
        }
    }
}

/// When the invocation is cut: its component's timeout from now, or the trigger's own
/// deadline when that comes first.
fn deadline_of(component: &LoadedComponent, meta: &Meta) -> Instant {
    let own = Instant::now() + component.spec.limits.timeout;
    meta.deadline.map_or(own, |given| given.min(own))
}

/// What a `wasi:http` component learns from request headers where a record handler reads its
/// `context`: the start kind and the trace parent. Whatever a client sent under those names is
/// replaced (a trace parent that the edge found invalid is removed).
fn invocation_headers(headers: &mut http::HeaderMap, meta: &Meta, start: types::StartKind) {
    headers.insert(
        START_KIND_HEADER,
        http::HeaderValue::from_static(start_kind_name(start)),
    );
    set_trace_parent(headers, meta.trace_parent.as_deref());
}

/// Leaves `headers` with `trace_parent` as their only `traceparent`, or none, so that a guest
/// reads in its headers what its `context` says.
pub fn set_trace_parent(headers: &mut http::HeaderMap, trace_parent: Option<&str>) {
    match trace_parent.and_then(|parent| http::HeaderValue::from_str(parent).ok()) {
        Some(value) => headers.insert(TRACE_PARENT_HEADER, value),
        None => headers.remove(TRACE_PARENT_HEADER),
    };
}

/// How an invocation starts: in a kept instance if one was found, else in a new one, after
/// loading the component's code again if it had scaled to zero (`cold`).
fn start_kind(kept: &Option<Instance>, cold: bool) -> types::StartKind {
    match kept {
        Some(instance) => instance.start_kind(),
        None if cold => types::StartKind::Cold,
        None => types::StartKind::Fresh,
    }
}

/// The start kind as the `x-nimbus-start-kind` header names it.
pub fn start_kind_name(start: types::StartKind) -> &'static str {
    match start {
        types::StartKind::Cold => "cold",
        types::StartKind::Fresh => "fresh",
        types::StartKind::Warm => "warm",
        types::StartKind::Provisioned => "provisioned",
    }
}

fn context(
    component: &LoadedComponent,
    meta: Meta,
    deadline: Instant,
    start_kind: types::StartKind,
    trigger: types::TriggerKind,
) -> types::Context {
    types::Context {
        request_id: meta.request_id,
        app: component.app.to_string(),
        component: component.spec.name.clone(),
        deadline_ms: deadline_ms(deadline),
        attempt: meta.attempt,
        identity: meta.identity.map(|identity| types::Identity {
            user_id: identity.user_id,
            email: identity.email,
            role: identity.role,
        }),
        start_kind,
        trace_parent: meta.trace_parent,
        trigger,
    }
}

async fn to_record(
    request: http::Request<axum::body::Body>,
    params: Vec<(String, String)>,
) -> Result<http_handler::Request, InvokeError> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_REQUEST_BODY)
        .await
        .map_err(|error| {
            if error.into_inner().is::<http_body_util::LengthLimitError>() {
                InvokeError::RequestBodyTooLarge {
                    limit: MAX_REQUEST_BODY,
                }
            } else {
                // The client stopped sending (`--read-timeout`) or went away.
                InvokeError::RequestBodyStalled
            }
        })?;
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    Ok(http_handler::Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers,
        params,
        body: body.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasi_http_components_learn_the_start_kind_and_trace_parent_from_headers() {
        let mut headers = http::HeaderMap::new();
        headers.insert(START_KIND_HEADER, http::HeaderValue::from_static("warm"));
        // One the edge found invalid, so `meta` does not carry it.
        headers.insert(
            TRACE_PARENT_HEADER,
            http::HeaderValue::from_static("forged"),
        );
        let mut meta = Meta::new("id".into());
        invocation_headers(&mut headers, &meta, types::StartKind::Fresh);
        assert_eq!(
            headers[&START_KIND_HEADER], "fresh",
            "a client cannot set it"
        );
        assert!(headers.get(&TRACE_PARENT_HEADER).is_none());
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        meta.trace_parent = Some(parent.into());
        invocation_headers(&mut headers, &meta, types::StartKind::Warm);
        assert_eq!(headers[&TRACE_PARENT_HEADER], parent);
        assert_eq!(headers[&START_KIND_HEADER], "warm");
    }
}
