//! Instances kept between invocations: warm ones (`instances.reuse > 1`), which serve request
//! after request of their own component, and provisioned ones (`instances.min`), made ahead of
//! time so that a request pays no instantiation. Each kept instance holds its place in the
//! process' instance pool; when a new instance finds the pool full, the least recently used
//! idle instance of any component is evicted, provisioned ones last.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit};
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::Proxy;

use super::state::InvocationState;
use crate::bindings::{event_handler, http_handler, types};

/// An instantiated component and the store it lives in.
pub struct Instance {
    pub(crate) store: Store<InvocationState>,
    pub(crate) ready: Ready,
    /// Invocations it has served.
    pub(crate) served: u32,
    /// Whether it was made ahead of time rather than on a request's path.
    pub(crate) provisioned: bool,
}

/// The instance's exports, ready to call: the ones its component has.
pub struct Ready {
    /// Its HTTP handler, of either kind.
    pub(crate) http: Option<HttpReady>,
    /// Its event handler.
    pub(crate) events: Option<event_handler::Guest>,
}

/// An instance's HTTP handler.
pub enum HttpReady {
    /// A record handler.
    Handler(http_handler::Guest),
    /// A `wasi:http` component.
    Proxy(Proxy),
}

impl Instance {
    /// How the next invocation starts in it.
    pub fn start_kind(&self) -> types::StartKind {
        match (self.served, self.provisioned) {
            (0, true) => types::StartKind::Provisioned,
            (0, false) => types::StartKind::Fresh,
            _ => types::StartKind::Warm,
        }
    }
}

struct Idle {
    instance: Instance,
    place: OwnedSemaphorePermit,
    since: Instant,
}

/// One component's idle kept instances, the most recently used last.
pub struct KeptInstances {
    idle: Mutex<VecDeque<Idle>>,
    /// Told whenever an instance is kept: requests waiting for a place in a full pool look
    /// again (the instance may be theirs, or evictable).
    kept: Arc<Notify>,
}

impl KeptInstances {
    /// The most recently used idle instance, with its place in the pool.
    pub fn take(&self) -> Option<(Instance, OwnedSemaphorePermit)> {
        let idle = self.idle.lock().ok()?.pop_back()?;
        Some((idle.instance, idle.place))
    }

    /// Keeps `instance` (and its `place` in the pool) for the next invocation.
    pub fn put(&self, instance: Instance, place: OwnedSemaphorePermit) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push_back(Idle {
                instance,
                place,
                since: Instant::now(),
            });
        }
        self.kept.notify_waiters();
    }

    /// Idle instances now.
    pub fn len(&self) -> usize {
        self.idle.lock().map_or(0, |idle| idle.len())
    }

    /// Whether none is idle.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the instances idle for longer than `timeout`, keeping the `keep` most recently
    /// used whatever their age (the provisioned minimum); returns how many went.
    pub fn drop_idle(&self, timeout: Duration, keep: usize) -> usize {
        let mut expired = Vec::new();
        if let Ok(mut idle) = self.idle.lock() {
            while idle.len() > keep
                && idle
                    .front()
                    .is_some_and(|oldest| oldest.since.elapsed() >= timeout)
            {
                expired.extend(idle.pop_front());
            }
        }
        // Dropped outside the lock: tearing a store down takes a while, and requests take
        // and keep instances under that lock.
        let dropped = expired.len();
        drop(expired);
        dropped
    }

    /// Since when its least recently used instance of the given kind has been idle.
    fn oldest(&self, provisioned: bool) -> Option<Instant> {
        let idle = self.idle.lock().ok()?;
        idle.iter()
            .find(|i| (i.instance.served == 0 && i.instance.provisioned) == provisioned)
            .map(|i| i.since)
    }

    fn evict(&self, provisioned: bool) -> bool {
        let evicted = self.idle.lock().ok().and_then(|mut idle| {
            let at = idle
                .iter()
                .position(|i| (i.instance.served == 0 && i.instance.provisioned) == provisioned)?;
            idle.remove(at)
        });
        // Dropped outside the lock, store first, then its place in the pool.
        evicted.is_some()
    }
}

/// Every component's kept instances in one process, for eviction across components.
#[derive(Default)]
pub struct KeptRegistry {
    all: Mutex<Vec<Weak<KeptInstances>>>,
    kept: Arc<Notify>,
}

impl KeptRegistry {
    /// A new, registered, empty set of kept instances for one component.
    pub fn register(&self) -> Arc<KeptInstances> {
        let kept = Arc::new(KeptInstances {
            idle: Mutex::default(),
            kept: Arc::clone(&self.kept),
        });
        if let Ok(mut all) = self.all.lock() {
            all.retain(|weak| weak.strong_count() > 0);
            all.push(Arc::downgrade(&kept));
        }
        kept
    }

    /// Told whenever any component keeps an instance.
    pub fn kept(&self) -> &Notify {
        &self.kept
    }

    /// Drops the least recently used idle instance of any component (one never used, made
    /// ahead of time, only when no other is idle), giving its place in the pool back; false
    /// when none is idle.
    pub fn evict_one(&self) -> bool {
        let live: Vec<Arc<KeptInstances>> = match self.all.lock() {
            Ok(all) => all.iter().filter_map(Weak::upgrade).collect(),
            Err(_) => return false,
        };
        for provisioned in [false, true] {
            let oldest = live
                .iter()
                .filter_map(|kept| kept.oldest(provisioned).map(|since| (since, kept)))
                .min_by_key(|(since, _)| *since);
            if let Some((_, kept)) = oldest
                && kept.evict(provisioned)
            {
                return true;
            }
        }
        false
    }
}
