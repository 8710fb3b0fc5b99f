//! The `queue` interface: publishing to the app's queues, each only when the manifest grants
//! it (`queues = ["emails"]`). A message published by a handler of an event carries that
//! event's hop count plus one, so that handlers feeding each other in a loop are stopped.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use nimbus_queue::{EventLog, Payload, Publish, QueueError};
use wasmtime::component::HasData;

use super::{CapabilityHost, Interface, PlatformError, Services};
use crate::bindings::{queue, types};
use crate::manifest::ComponentSpec;
use crate::traces::{InSpan as _, Span};

/// What one component may publish to.
#[derive(Clone)]
pub struct QueueCtx(Arc<QueueGrant>);

struct QueueGrant {
    component: String,
    granted: BTreeSet<String>,
    log: EventLog,
}

tokio::task_local! {
    /// The hop count of the event the running invocation handles.
    static EVENT_HOP: u32;
}

/// Runs `invocation` as the handler of an event with `hop` (0 for an HTTP request).
pub async fn with_event_hop<F: std::future::Future>(hop: u32, invocation: F) -> F::Output {
    EVENT_HOP.scope(hop, invocation).await
}

/// The hop count an event caused now carries: one more than the event being handled, or 0
/// when no handler runs (a write through the storage API).
pub fn caused_hop() -> u32 {
    EVENT_HOP.try_with(|hop| hop.saturating_add(1)).unwrap_or(0)
}

/// The view handed to the binding.
pub struct QueueView<'a> {
    ctx: &'a QueueCtx,
}

struct HasQueue;

impl HasData for HasQueue {
    type Data<'a> = QueueView<'a>;
}

fn view<T: CapabilityHost>(state: &mut T) -> QueueView<'_> {
    QueueView {
        ctx: &state.capabilities().0.queue,
    }
}

/// The queue context of `spec`: the queues `queues = [...]` grants.
pub fn configure(spec: &ComponentSpec, services: &Services) -> QueueCtx {
    QueueCtx(Arc::new(QueueGrant {
        component: spec.name.clone(),
        granted: spec.queues.clone(),
        log: services.events.clone(),
    }))
}

/// `nimbus:platform/queue`, for components granted `queues`.
pub fn interfaces<T: CapabilityHost>() -> Vec<Interface<T>> {
    vec![Interface {
        name: "nimbus:platform/queue",
        grant: "queues = [\"QUEUE\"]",
        granted: |spec| !spec.queues.is_empty(),
        link: |linker, _| queue::add_to_linker::<T, HasQueue>(linker, view::<T>),
    }]
}

/// The guest-visible form of an event log failure.
pub fn platform_error(error: QueueError) -> PlatformError {
    match error {
        QueueError::Invalid(why) => PlatformError::Invalid(why),
        QueueError::Storage(why) | QueueError::Corrupt(why) => {
            tracing::error!("event log failure: {why}");
            PlatformError::Unavailable("the queue is unavailable".into())
        }
    }
}

impl types::Host for QueueView<'_> {
    fn convert_error(&mut self, error: PlatformError) -> wasmtime::Result<types::Error> {
        error.into_wit()
    }
}

impl queue::Host for QueueView<'_> {
    async fn publish(
        &mut self,
        name: String,
        body: Vec<u8>,
        options: queue::PublishOptions,
    ) -> Result<String, PlatformError> {
        let grant = &self.ctx.0;
        if !grant.granted.contains(&name) {
            let component = &grant.component;
            return Err(PlatformError::AccessDenied(format!(
                "component `{component}` may not publish to queue `{name}`; grant it with `queues = [\"{name}\"]` in [component.{component}]"
            )));
        }
        let publish = Publish {
            delay: Duration::from_millis(options.delay_ms.unwrap_or(0)),
            dedupe_key: options.dedupe_key,
            hop: caused_hop(),
            expires_at_ms: None,
            order_key: None,
            payload: Payload::Message(body),
        };
        let published = grant
            .log
            .publish(&name, publish)
            .in_span(Span::host_call("queue.publish"))
            .await
            .map_err(platform_error)?;
        Ok(published.id)
    }
}
