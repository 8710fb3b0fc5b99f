//! An invocation's place under its component's `limits.max_concurrency` and under the
//! process' instance pool.

use std::sync::Arc;
use std::time::Duration;

use super::component::LoadedComponent;
use super::engine::Runtime;
use super::invoke::InvokeError;

/// How long an invocation waits for a concurrency slot before it is turned away.
pub const CONCURRENCY_WAIT: Duration = Duration::from_secs(1);

/// One invocation's place under its component's `limits.max_concurrency` and under the
/// process' instance pool; both are freed when it drops.
pub struct Slot {
    _component: tokio::sync::OwnedSemaphorePermit,
    _process: tokio::sync::OwnedSemaphorePermit,
}

/// Waits briefly for a slot under `limits.max_concurrency` and the process' cap.
pub async fn acquire_slot(
    runtime: &Runtime,
    loaded: &LoadedComponent,
) -> Result<Slot, InvokeError> {
    // Nearly always both are free: take them without arming a timer.
    if let Ok(component) = Arc::clone(&loaded.concurrency).try_acquire_owned()
        && let Ok(process) = runtime.process_slots().try_acquire_owned()
    {
        return Ok(Slot {
            _component: component,
            _process: process,
        });
    }
    let both = async {
        // The component's own limit first: a component at its limit must not hold process
        // slots that other components could use while it waits.
        let component = Arc::clone(&loaded.concurrency).acquire_owned().await?;
        let process = runtime.process_slots().acquire_owned().await?;
        Ok::<_, tokio::sync::AcquireError>(Slot {
            _component: component,
            _process: process,
        })
    };
    match tokio::time::timeout(CONCURRENCY_WAIT, both).await {
        Ok(Ok(slot)) => Ok(slot),
        _ => Err(InvokeError::Overloaded {
            component: loaded.spec.name.clone(),
        }),
    }
}
