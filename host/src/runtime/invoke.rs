//! One call into a guest: a fresh `Store` from the component's `InstancePre` (or a kept
//! instance, renewed for the request), a deadline, a memory limit, the call, and a verdict
//! that tells a timeout from a memory overrun from a trap. [`super::invoker`] decides which
//! call a trigger makes. An instance comes back for keeping only when its call succeeded and
//! it has served fewer than `instances.reuse` requests.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::component::{Entry, LoadedComponent};
use super::counted_body::CountedBody;
use super::cpu_clock::CpuTimed;
use super::engine::Runtime;
use super::kept::{HttpReady, Instance, Ready};
use super::slot::Slot;
use super::state::InvocationState;
use crate::bindings::{event_handler, http_handler, types};
use crate::traces::{InSpan as _, Span};
use crate::usage;

/// Why an invocation produced no response.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The guest ran past `limits.timeout`.
    #[error("component `{component}` did not finish within its timeout of {timeout:?}")]
    Timeout {
        /// The component.
        component: String,
        /// Its limit.
        timeout: Duration,
    },
    /// The guest asked for more memory than `limits.memory`.
    #[error("component `{component}` exceeded its memory limit of {limit} bytes")]
    MemoryExceeded {
        /// The component.
        component: String,
        /// Its limit in bytes.
        limit: u64,
    },
    /// The guest trapped or panicked, or broke the calling convention.
    #[error("component `{component}` failed: {detail}")]
    Trap {
        /// The component.
        component: String,
        /// What happened (for the log, not for the client).
        detail: String,
    },
    /// `limits.max_concurrency` invocations are already in flight.
    #[error("component `{component}` is at its concurrency limit")]
    Overloaded {
        /// The component.
        component: String,
    },
    /// An HTTP trigger's request body is larger than a record handler takes.
    #[error("request body is larger than {limit} bytes")]
    RequestBodyTooLarge {
        /// The largest body accepted.
        limit: usize,
    },
    /// An HTTP trigger's request body stopped arriving before it was complete.
    #[error("the request body stopped arriving")]
    RequestBodyStalled,
}

impl InvokeError {
    /// A short name of what went wrong, for the invocation's log line.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout { .. } => "timeout",
            Self::MemoryExceeded { .. } => "memory",
            Self::Trap { .. } => "trap",
            Self::Overloaded { .. } => "overloaded",
            Self::RequestBodyTooLarge { .. } => "body-too-large",
            Self::RequestBodyStalled => "body-stalled",
        }
    }

    /// The HTTP status an HTTP trigger answers with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::MemoryExceeded { .. } | Self::Trap { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::RequestBodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestBodyStalled => StatusCode::REQUEST_TIMEOUT,
        }
    }

    fn trap(loaded: &LoadedComponent, detail: String) -> Self {
        InvokeError::Trap {
            component: loaded.spec.name.clone(),
            detail,
        }
    }
}

/// Raised from the epoch callback when an invocation's deadline has passed.
#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

fn fresh_store(
    runtime: &Runtime,
    loaded: &LoadedComponent,
    deadline: Instant,
) -> (
    Store<InvocationState>,
    crate::capabilities::wasi::CapturedOutput,
) {
    let (state, output) = InvocationState::new(loaded, runtime.in_flight());
    let mut store = Store::new(runtime.engine(), state);
    store.limiter(|state| &mut state.limiter);
    arm_deadline(&mut store, deadline);
    (store, output)
}

/// Every tick that a guest runs on, it yields to the executor, so a guest that spins cannot
/// starve the other requests of its worker; past `deadline` it is cut. tokio's `yield_now`
/// (unlike an immediate re-wake) lets the worker poll its sockets first, so new requests are
/// accepted within a tick, not after the scheduler's event interval.
fn arm_deadline(store: &mut Store<InvocationState>, deadline: Instant) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Err(wasmtime::Error::new(DeadlineExceeded))
        } else {
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        }
    });
}

/// The store of `kept` renewed for one more invocation, or a fresh one; with the kept
/// instance's exports, its count of invocations served and whether it was provisioned.
fn store_for(
    runtime: &Runtime,
    loaded: &LoadedComponent,
    kept: Option<Instance>,
    deadline: Instant,
) -> (
    Store<InvocationState>,
    Option<Ready>,
    u32,
    bool,
    crate::capabilities::wasi::CapturedOutput,
) {
    match kept {
        Some(Instance {
            mut store,
            ready,
            served,
            provisioned,
        }) => {
            let output = store.data_mut().begin(loaded, runtime.in_flight());
            arm_deadline(&mut store, deadline);
            (store, Some(ready), served, provisioned, output)
        }
        None => {
            runtime.instantiations().made_on_request();
            let (store, output) = fresh_store(runtime, loaded, deadline);
            (store, None, 0, false, output)
        }
    }
}

/// The instance, back for keeping if `instances.reuse` allows another invocation in it, it
/// never ran into its memory limit (a guest may survive a refused `memory.grow`), and it let
/// go of everything that belonged to the request.
fn keep_if_reusable(
    loaded: &LoadedComponent,
    mut store: Store<InvocationState>,
    ready: Ready,
    served: u32,
    provisioned: bool,
) -> Option<Instance> {
    let served = served.saturating_add(1);
    if served >= loaded.spec.instances.reuse
        || store.data().limiter.exceeded()
        || store.data_mut().holds_request_resources()
    {
        return None;
    }
    store.data_mut().end();
    Some(Instance {
        store,
        ready,
        served,
        provisioned,
    })
}

/// Makes an instance of `loaded` ahead of any request (provisioned concurrency), under the
/// component's timeout and memory limit.
pub(crate) async fn provision(
    runtime: &Runtime,
    loaded: &LoadedComponent,
) -> Result<Instance, InvokeError> {
    let (entry, _) = loaded
        .code(runtime)
        .map_err(|detail| InvokeError::trap(loaded, detail))?;
    let budget = loaded.spec.limits.timeout;
    runtime.instantiations().made_ahead();
    let (mut store, output) = fresh_store(runtime, loaded, Instant::now() + budget);
    let outcome = tokio::time::timeout(budget, async { entry.instantiate(&mut store).await }).await;
    output.log("provisioning", &loaded.spec.name);
    let ready = verdict(loaded, budget, &store, outcome)?;
    if store.data().limiter.exceeded() {
        return Err(InvokeError::MemoryExceeded {
            component: loaded.spec.name.clone(),
            limit: loaded.spec.limits.memory,
        });
    }
    store.data_mut().end();
    Ok(Instance {
        store,
        ready,
        served: 0,
        provisioned: true,
    })
}

fn wrong_kind(loaded: &LoadedComponent) -> wasmtime::Error {
    wasmtime::Error::msg(format!(
        "a kept instance of component `{}` does not match its kind",
        loaded.spec.name
    ))
}

fn verdict<T>(
    loaded: &LoadedComponent,
    budget: Duration,
    store: &Store<InvocationState>,
    outcome: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
) -> Result<T, InvokeError> {
    let error = match outcome {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(error)) if !error.is::<DeadlineExceeded>() => error,
        Err(_) | Ok(Err(_)) => {
            return Err(InvokeError::Timeout {
                component: loaded.spec.name.clone(),
                timeout: budget,
            });
        }
    };
    if store.data().limiter.exceeded() {
        return Err(InvokeError::MemoryExceeded {
            component: loaded.spec.name.clone(),
            limit: loaded.spec.limits.memory,
        });
    }
    Err(InvokeError::trap(loaded, format!("{error:#}")))
}

/// Which body of an invocation a [`metered_body`] counts.
#[derive(Clone, Copy)]
pub(crate) enum Direction {
    Request,
    Response,
}

/// `body`, its bytes added to `component`'s usage when it drops; counted by nobody (and
/// costing nothing more) while metering is off.
pub(crate) fn metered_body<B>(
    meter: &Arc<usage::UsageMeter>,
    component: &Arc<LoadedComponent>,
    body: B,
    direction: Direction,
) -> CountedBody<B> {
    if !meter.enabled() {
        return CountedBody::uncounted(body);
    }
    let (meter, component) = (Arc::clone(meter), Arc::clone(component));
    CountedBody::new(body, move |bytes| {
        let name = &component.spec.name;
        match direction {
            Direction::Request => meter.add_bytes(name, bytes, 0),
            Direction::Response => meter.add_bytes(name, 0, bytes),
        }
    })
}

/// `deadline` as milliseconds since the Unix epoch, for the guest's `context`.
pub(crate) fn deadline_ms(deadline: Instant) -> u64 {
    let wall = SystemTime::now() + deadline.saturating_duration_since(Instant::now());
    wall.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What a record-based call passes to the guest.
pub(crate) enum RecordCall {
    /// A request for its HTTP handler.
    Http(http_handler::Request),
    /// An event for its event handler, with how many handlers' writes led to it.
    Event(event_handler::Event, u32),
}

/// What a record-based call got back.
pub(crate) enum RecordAnswer {
    /// The HTTP handler's response.
    Http(http_handler::Response),
    /// The event handler's result: an error string asks for a retry.
    Event(Result<(), String>),
}

impl RecordCall {
    fn bytes(&self) -> u64 {
        match self {
            RecordCall::Http(request) => request.body.len() as u64,
            RecordCall::Event(event, _) => match &event.kind {
                event_handler::EventKind::QueueMessage(message) => message.body.len() as u64,
                _ => 0,
            },
        }
    }
}

/// Calls a record-based handler (HTTP or event) once, in `kept` or a fresh instance, cut at
/// `deadline`; the instance comes back when it may serve again, with the most linear memory
/// it held.
pub(crate) async fn call_record(
    runtime: &Runtime,
    loaded: &LoadedComponent,
    entry: &Entry,
    kept: Option<Instance>,
    call: RecordCall,
    context: types::Context,
    deadline: Instant,
) -> (Result<RecordAnswer, InvokeError>, Option<Instance>, u64) {
    let began = Instant::now();
    let (mut store, ready, served, provisioned, output) =
        store_for(runtime, loaded, kept, deadline);
    store.data_mut().pass_trace_parent(
        context
            .trace_parent
            .as_deref()
            .and_then(|parent| http::HeaderValue::from_str(parent).ok()),
    );
    let budget = deadline.saturating_duration_since(Instant::now());
    let mut cpu = Duration::ZERO;
    // Boxed: the guest call's state is kilobytes, and the wrappers below would each move it.
    let invocation = Box::pin(async {
        let ready = match ready {
            None => entry.instantiate(&mut store).await?,
            Some(ready) => ready,
        };
        let answer = match (&call, &ready) {
            (
                RecordCall::Http(request),
                Ready {
                    http: Some(HttpReady::Handler(handler)),
                    ..
                },
            ) => RecordAnswer::Http(handler.call_handle(&mut store, request, &context).await?),
            (
                RecordCall::Event(event, _),
                Ready {
                    events: Some(handler),
                    ..
                },
            ) => RecordAnswer::Event(handler.call_handle(&mut store, event, &context).await?),
            _ => return Err(wrong_kind(loaded)),
        };
        Ok((ready, answer))
    });
    let metered = runtime.usage().enabled().then_some(&mut cpu);
    let hop = match &call {
        RecordCall::Http(_) => 0,
        RecordCall::Event(_, hop) => *hop,
    };
    let invocation = crate::capabilities::queue::with_event_hop(hop, invocation);
    let outcome = tokio::time::timeout(budget, CpuTimed::new(invocation, metered)).await;
    output.log(&context.request_id, &loaded.spec.name);
    let verdict = verdict(loaded, budget, &store, outcome);
    let peak_memory = store.data().limiter.peak();
    runtime.usage().record(
        &loaded.spec.name,
        &usage::Invocation {
            failed: verdict.is_err(),
            duration: began.elapsed(),
            memory_limit: loaded.spec.limits.memory,
            cpu,
            peak_memory,
            request_bytes: call.bytes(),
            response_bytes: match &verdict {
                Ok((_, RecordAnswer::Http(response))) => response.body.len() as u64,
                _ => 0,
            },
        },
    );
    match verdict {
        Ok((ready, answer)) => (
            Ok(answer),
            keep_if_reusable(loaded, store, ready, served, provisioned),
            peak_memory,
        ),
        Err(error) => (Err(error), None, peak_memory),
    }
}

/// Calls a `wasi:http` component once, in the `kept` instance that came with `slot` or a
/// fresh one, cut at `deadline`. The instance keeps running in its own task, holding `slot`,
/// while it streams the response body; then it is kept (with the slot's place in the pool)
/// if it may serve again.
pub(crate) async fn call_proxy(
    runtime: &Runtime,
    loaded: &Arc<LoadedComponent>,
    entry: &Arc<Entry>,
    (kept, slot): (Option<Instance>, Slot),
    request: http::Request<axum::body::Body>,
    request_id: String,
    deadline: Instant,
) -> Result<http::Response<HyperOutgoingBody>, InvokeError> {
    let trap = |detail: String| InvokeError::trap(loaded, detail);
    let began = Instant::now();
    let (mut store, ready, served, provisioned, output) =
        store_for(runtime, loaded, kept, deadline);
    let trace_parent = request.headers().get(super::TRACE_PARENT_HEADER);
    store.data_mut().pass_trace_parent(trace_parent.cloned());
    let budget = deadline.saturating_duration_since(Instant::now());
    let meter = Arc::clone(runtime.usage());
    let request = request.map(|body| {
        use http_body_util::BodyExt;
        metered_body(&meter, loaded, body, Direction::Request)
            .map_err(|_| wasmtime_wasi_http::Error::ConnectionTerminated)
    });
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let mut http = store.data_mut().http();
    let incoming = http
        .new_incoming_request(Scheme::Http, request)
        .map_err(|e| trap(format!("{e:#}")))?;
    let outparam = http
        .new_response_outparam(sender)
        .map_err(|e| trap(format!("{e:#}")))?;
    let (component, entry) = (Arc::clone(loaded), Arc::clone(entry));
    // The instance's task stays in the invocation's span, so that its host calls are its
    // children in an exported trace.
    let span = Span::current();
    let task = tokio::spawn(
        async move {
            let mut cpu = Duration::ZERO;
            // Boxed, as in `call_record`.
            let call = Box::pin(async {
                let ready = match ready {
                    None => entry.instantiate(&mut store).await?,
                    Some(ready) => ready,
                };
                let Some(HttpReady::Proxy(proxy)) = &ready.http else {
                    return Err(wrong_kind(&component));
                };
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, incoming, outparam)
                    .await?;
                Ok(ready)
            });
            let metered = meter.enabled().then_some(&mut cpu);
            let outcome = tokio::time::timeout(budget, CpuTimed::new(call, metered)).await;
            output.log(&request_id, &component.spec.name);
            let verdict = verdict(&component, budget, &store, outcome);
            // Its body bytes are counted as they stream, apart from this.
            meter.record(
                &component.spec.name,
                &usage::Invocation {
                    failed: verdict.is_err(),
                    duration: began.elapsed(),
                    memory_limit: component.spec.limits.memory,
                    cpu,
                    peak_memory: store.data().limiter.peak(),
                    ..usage::Invocation::default()
                },
            );
            match verdict {
                Ok(ready) => {
                    if let Some(instance) =
                        keep_if_reusable(&component, store, ready, served, provisioned)
                    {
                        component.kept.put(instance, slot.place);
                    }
                    Ok(())
                }
                // The instance goes back to the pool before its slot is freed.
                Err(error) => {
                    drop(store);
                    drop(slot);
                    Err(error)
                }
            }
        }
        .in_span(span),
    );
    match receiver.await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(code)) => Err(trap(format!("the guest answered with error {code:?}"))),
        Err(_) => match task.await {
            Ok(Err(error)) => Err(error),
            Ok(Ok(())) => Err(trap(
                "the guest returned without setting a response".to_string(),
            )),
            Err(join) => Err(trap(format!("invocation task failed: {join}"))),
        },
    }
}
