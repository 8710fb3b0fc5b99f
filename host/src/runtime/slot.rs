//! An invocation's place under its component's `limits.max_concurrency` and in the process'
//! instance pool, and the kept instance it may run in.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::component::LoadedComponent;
use super::engine::Runtime;
use super::invoke::InvokeError;
use super::kept::Instance;

/// How long an invocation waits for a concurrency slot before it is turned away.
pub const CONCURRENCY_WAIT: Duration = Duration::from_secs(1);

/// One invocation's place under its component's `limits.max_concurrency` and in the process'
/// instance pool. The pool place goes with the instance: back to the pool when the instance
/// is dropped, or kept with it when the instance is kept.
pub struct Slot {
    pub(crate) place: OwnedSemaphorePermit,
    _component: OwnedSemaphorePermit,
}

/// Takes a slot under `limits.max_concurrency`, then an idle kept instance of the component
/// if there is one (it brings its own place in the pool), else a place for a new instance:
/// waiting at most [`CONCURRENCY_WAIT`] for both, and evicting another component's idle
/// instance when the pool is full.
pub async fn acquire_slot(
    runtime: &Runtime,
    loaded: &LoadedComponent,
) -> Result<(Slot, Option<Instance>), InvokeError> {
    let overloaded = || InvokeError::Overloaded {
        component: loaded.spec.name.clone(),
    };
    let deadline = Instant::now() + CONCURRENCY_WAIT;
    // The component's own limit first: a component at its limit must not hold pool places
    // that other components could use while it waits.
    let component = permit(&loaded.concurrency, deadline)
        .await
        .ok_or_else(overloaded)?;
    if let Some((instance, place)) = loaded.kept.take() {
        if loaded.spec.instances.min > 0 {
            runtime.kept_wanted().notify_one();
        }
        return Ok((
            Slot {
                place,
                _component: component,
            },
            Some(instance),
        ));
    }
    let pool = runtime.process_slots();
    let place = match Arc::clone(&pool).try_acquire_owned() {
        Ok(place) => place,
        Err(_) => {
            while runtime.kept().evict_one() {
                if let Ok(place) = Arc::clone(&pool).try_acquire_owned() {
                    return Ok((
                        Slot {
                            place,
                            _component: component,
                        },
                        None,
                    ));
                }
            }
            permit(&pool, deadline).await.ok_or_else(overloaded)?
        }
    };
    Ok((
        Slot {
            place,
            _component: component,
        },
        None,
    ))
}

/// A permit of `semaphore`, at once when one is free (nearly always: no timer is armed
/// then), else waiting until `deadline`.
async fn permit(semaphore: &Arc<Semaphore>, deadline: Instant) -> Option<OwnedSemaphorePermit> {
    if let Ok(permit) = Arc::clone(semaphore).try_acquire_owned() {
        return Some(permit);
    }
    tokio::time::timeout_at(deadline, Arc::clone(semaphore).acquire_owned())
        .await
        .ok()?
        .ok()
}
