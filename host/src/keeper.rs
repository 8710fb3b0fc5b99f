//! Upkeep of the current version's kept instances, on a thread of its own so that start-up
//! does not wait for it: makes each component's provisioned instances (`instances.min`) right
//! after start and again after requests took them, drops instances idle past
//! `instances.idle_timeout` (the provisioned minimum stays), and scales a component without
//! a minimum to zero once it has been idle that long: its compiled code is given back.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::host::Host;
use crate::runtime::LoadedComponent;

/// Longest wait between two rounds while a component keeps instances and no request took one.
const ROUND: Duration = Duration::from_millis(250);
/// Longest wait between two rounds while no component keeps instances (a later version may),
/// or after provisioning failed: an idle host stays idle, and a component that cannot be
/// instantiated is not retried in a loop.
const SLOW_ROUND: Duration = Duration::from_secs(5);

/// Starts the upkeep thread; it ends when the host is dropped.
pub fn start(host: &Arc<Host>) -> std::io::Result<()> {
    let host = Arc::downgrade(host);
    crate::background::spawn("nimbus-instances", "instance keeper", move || keep(host)).map(drop)
}

async fn keep(host: Weak<Host>) {
    // When provisioning of a component (by its code's digest) last failed: it is not tried
    // again for a slow round, however often requests wake the keeper.
    let mut failed: HashMap<String, Instant> = HashMap::new();
    loop {
        let Some(live) = host.upgrade() else {
            return;
        };
        let wanted = live.runtime.kept_wanted();
        let mut round = SLOW_ROUND;
        for component in &live.current().components {
            let instances = component.spec.instances;
            if !instances.kept() && instances.idle_timeout.is_none() {
                continue;
            }
            round = ROUND;
            let may_provision = failed
                .get(&component.digest)
                .is_none_or(|at| at.elapsed() >= SLOW_ROUND);
            if !tend(&live, component, may_provision).await {
                failed.insert(component.digest.clone(), Instant::now());
            }
        }
        drop(live);
        let _ = tokio::time::timeout(round, wanted.notified()).await;
    }
}

/// Drops the component's expired idle instances and, when `may_provision`, provisions up to
/// its `min`; false when provisioning failed.
async fn tend(host: &Host, component: &LoadedComponent, may_provision: bool) -> bool {
    let instances = component.spec.instances;
    if let Some(timeout) = instances.idle_timeout {
        component.kept.drop_idle(timeout, instances.min as usize);
        if instances.min == 0 && component.scale_to_zero(timeout, &host.runtime) {
            tracing::info!(component = %component.spec.name, "idle: compiled code given back");
        }
    }
    if !may_provision {
        return true;
    }
    while component.kept.len() < instances.min as usize {
        // Provisioning takes only a free place: it never evicts, nor waits for, another
        // component's instances.
        let Ok(place) = host.runtime.process_slots().try_acquire_owned() else {
            return true;
        };
        match crate::runtime::invoke::provision(&host.runtime, component).await {
            Ok(instance) => component.kept.put(instance, place),
            Err(error) => {
                tracing::warn!(component = %component.spec.name, "cannot provision an instance: {error}");
                return false;
            }
        }
    }
    true
}
