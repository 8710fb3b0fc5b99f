//! One call into a guest: a fresh `Store` from the component's `InstancePre`, a deadline, a
//! memory limit, the call, and a verdict that tells a timeout from a memory overrun from a
//! trap. [`super::invoker`] decides which call a trigger makes.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::component::LoadedComponent;
use super::engine::Runtime;
use super::slot::Slot;
use super::state::InvocationState;
use crate::bindings::{HttpAppPre, http_handler, types};

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
    // Every tick that a guest runs on, it yields to the executor, so a guest that spins
    // cannot starve the other requests of its worker; past its deadline it is cut. tokio's
    // `yield_now` (unlike an immediate re-wake) lets the worker poll its sockets first, so
    // new requests are accepted within a tick, not after the scheduler's event interval.
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
    (store, output)
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

/// `deadline` as milliseconds since the Unix epoch, for the guest's `context`.
pub(crate) fn deadline_ms(deadline: Instant) -> u64 {
    let wall = SystemTime::now() + deadline.saturating_duration_since(Instant::now());
    wall.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Calls a record-based handler once, in a fresh instance, cut at `deadline`.
pub(crate) async fn call_handler(
    runtime: &Runtime,
    loaded: &LoadedComponent,
    pre: &HttpAppPre<InvocationState>,
    request: http_handler::Request,
    context: types::Context,
    deadline: Instant,
) -> Result<http_handler::Response, InvokeError> {
    let (mut store, output) = fresh_store(runtime, loaded, deadline);
    let budget = deadline.saturating_duration_since(Instant::now());
    let outcome = tokio::time::timeout(budget, async {
        let app = pre.instantiate_async(&mut store).await?;
        app.nimbus_platform_http_handler()
            .call_handle(&mut store, &request, &context)
            .await
    })
    .await;
    output.log(&context.request_id, &loaded.spec.name);
    verdict(loaded, budget, &store, outcome)
}

/// Calls a `wasi:http` component once, in a fresh instance cut at `deadline`. The instance
/// keeps running in its own task, holding `slot`, while it streams the response body.
pub(crate) async fn call_proxy(
    runtime: &Runtime,
    loaded: &Arc<LoadedComponent>,
    pre: &ProxyPre<InvocationState>,
    request: http::Request<axum::body::Body>,
    request_id: String,
    slot: Slot,
    deadline: Instant,
) -> Result<http::Response<HyperOutgoingBody>, InvokeError> {
    let trap = |detail: String| InvokeError::trap(loaded, detail);
    let (mut store, output) = fresh_store(runtime, loaded, deadline);
    let budget = deadline.saturating_duration_since(Instant::now());
    let request = request.map(|body| {
        use http_body_util::BodyExt;
        body.map_err(|_| wasmtime_wasi_http::Error::ConnectionTerminated)
    });
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let mut http = store.data_mut().http();
    let incoming = http
        .new_incoming_request(Scheme::Http, request)
        .map_err(|e| trap(format!("{e:#}")))?;
    let outparam = http
        .new_response_outparam(sender)
        .map_err(|e| trap(format!("{e:#}")))?;
    let (component, pre) = (Arc::clone(loaded), pre.clone());
    let task = tokio::spawn(async move {
        let outcome = tokio::time::timeout(budget, async {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await
        })
        .await;
        output.log(&request_id, &component.spec.name);
        let verdict = verdict(&component, budget, &store, outcome);
        // The instance goes back to the pool before its slot is freed.
        drop(store);
        drop(slot);
        verdict
    });
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
