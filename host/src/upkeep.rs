//! Background upkeep of the process that owns the app's data, started once it listens so that
//! none of it delays start-up: the object store's crash leftovers are swept now and then, and
//! expired key-value entries are removed.

use std::sync::Arc;
use std::time::Duration;

use crate::host::Host;

/// How often leftovers are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Leftovers younger than this are left alone: far longer than an upload may stall and than a
/// finished blob waits for its metadata.
const LEFTOVER_AGE: Duration =
    Duration::from_secs(10 * nimbus_objects::UPLOAD_STALL_TIMEOUT.as_secs());

/// How often expired key-value entries are removed (they read as absent before that).
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// Entries removed per purge transaction.
const PURGE_BATCH: usize = 1000;

/// Runs the upkeep of `host`'s data on its own thread: crash leftovers are swept now and every
/// [`SWEEP_INTERVAL`], expired key-value entries purged every [`PURGE_INTERVAL`].
pub fn sweep_in_background(host: &Arc<Host>) {
    // Weak, so that the host (and the stores it holds open) is dropped when serving ends.
    let host = Arc::downgrade(host);
    let spawned = crate::background::spawn("nimbus-upkeep", "upkeep runtime", move || async move {
        let mut sweep = tokio::time::interval(SWEEP_INTERVAL);
        let mut purge = tokio::time::interval(PURGE_INTERVAL);
        loop {
            let sweeping = tokio::select! {
                _ = sweep.tick() => true,
                _ = purge.tick() => false,
            };
            if sweeping {
                let Some(host) = host.upgrade() else {
                    return;
                };
                sweep_leftovers(&host).await;
            } else if !purge_expired(&host).await {
                return;
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the upkeep thread: {e}");
    }
}

async fn sweep_leftovers(host: &Host) {
    let app = host.current().manifest.app.clone();
    match host
        .backends
        .objects
        .sweep_leftovers(&app, LEFTOVER_AGE)
        .await
    {
        Ok(swept) if swept.temp_files + swept.orphan_blobs > 0 => tracing::info!(
            temp_files = swept.temp_files,
            orphan_blobs = swept.orphan_blobs,
            "removed what crashed uploads left"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot sweep crashed uploads' leftovers: {e}"),
    }
}

/// Purges expired entries batch by batch, holding the host only for one batch at a time so
/// that a long backlog never keeps a stopping host's store open; false once the host is gone.
async fn purge_expired(host: &std::sync::Weak<Host>) -> bool {
    loop {
        let Some(kv) = host.upgrade().map(|host| Arc::clone(&host.backends.kv)) else {
            return false;
        };
        match kv.purge_expired(PURGE_BATCH).await {
            Ok(purged) if purged == PURGE_BATCH => continue,
            Ok(_) => return true,
            Err(e) => {
                tracing::warn!("cannot purge expired key-value entries: {e}");
                return true;
            }
        }
    }
}
