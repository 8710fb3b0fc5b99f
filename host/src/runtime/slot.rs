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
/// if there is one (it brings its own place in the pool), else a place for a new instance.
/// The instance comes first in the pair, so that dropping the pair drops the instance before
/// its place in the pool is given back. It waits at most [`CONCURRENCY_WAIT`] for both, and
/// evicts another component's idle instance when the pool is full.
pub async fn acquire_slot(
    runtime: &Runtime,
    loaded: &LoadedComponent,
) -> Result<(Option<Instance>, Slot), InvokeError> {
    let overloaded = || InvokeError::Overloaded {
        component: loaded.spec.name.clone(),
    };
    let deadline = Instant::now() + CONCURRENCY_WAIT;
    // The component's own limit first: a component at its limit must not hold pool places
    // that other components could use while it waits.
    let component = permit(&loaded.concurrency, deadline)
        .await
        .ok_or_else(overloaded)?;
    let in_place = |kept: Option<Instance>, place| {
        Ok((
            kept,
            Slot {
                place,
                _component: component,
            },
        ))
    };
    let keeps = loaded.spec.instances.kept();
    if let Some((instance, place)) = keeps.then(|| loaded.kept.take()).flatten() {
        if loaded.spec.instances.min > 0 {
            runtime.kept_wanted().notify_one();
        }
        return in_place(Some(instance), place);
    }
    let pool = runtime.process_slots();
    if let Ok(place) = Arc::clone(&pool).try_acquire_owned() {
        return in_place(None, place);
    }
    // The pool is full. Idle kept instances hold places too: take one of the component's own
    // when one is kept meanwhile, or evict another's; else wait for a place until the deadline.
    loop {
        let kept = runtime.kept().kept().notified();
        tokio::pin!(kept);
        kept.as_mut().enable();
        if let Some((instance, place)) = loaded.kept.take() {
            if loaded.spec.instances.min > 0 {
                runtime.kept_wanted().notify_one();
            }
            return in_place(Some(instance), place);
        }
        if runtime.kept().evict_one() {
            if let Ok(place) = Arc::clone(&pool).try_acquire_owned() {
                return in_place(None, place);
            }
            continue;
        }
        tokio::select! {
            place = Arc::clone(&pool).acquire_owned() => {
                return in_place(None, place.map_err(|_| overloaded())?);
            }
            () = &mut kept => {}
            () = tokio::time::sleep_until(deadline) => return Err(overloaded()),
        }
    }
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
