//! Background upkeep of the process that owns the app's data, started once it listens so that
//! none of it delays start-up: the object store's crash leftovers are swept now and then.

use std::sync::Arc;
use std::time::Duration;

use crate::host::Host;

/// How often leftovers are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Leftovers younger than this are left alone: far longer than an upload may stall and than a
/// finished blob waits for its metadata.
const LEFTOVER_AGE: Duration =
    Duration::from_secs(10 * nimbus_objects::UPLOAD_STALL_TIMEOUT.as_secs());

/// Sweeps the crash leftovers of `host`'s app now and every [`SWEEP_INTERVAL`], on its own
/// thread.
pub fn sweep_in_background(host: &Arc<Host>) {
    let host = Arc::clone(host);
    let spawned = std::thread::Builder::new()
        .name("nimbus-sweep".into())
        .spawn(move || {
            loop {
                let app = host.current().manifest.app.clone();
                match host.backends.objects.sweep_leftovers(&app, LEFTOVER_AGE) {
                    Ok(swept) if swept.temp_files + swept.orphan_blobs > 0 => tracing::info!(
                        temp_files = swept.temp_files,
                        orphan_blobs = swept.orphan_blobs,
                        "removed what crashed uploads left"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("cannot sweep crashed uploads' leftovers: {e}"),
                }
                std::thread::sleep(SWEEP_INTERVAL);
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start sweeping crashed uploads' leftovers: {e}");
    }
}
