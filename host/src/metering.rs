//! Writing what this process metered ([`crate::usage`]) to the app's store: every
//! [`FLUSH_INTERVAL`] on a thread of its own, and once more when the process stops serving.

use std::sync::{Arc, Weak};

use crate::host::Host;
use crate::usage::FLUSH_INTERVAL;

/// Flushes `host`'s usage every [`FLUSH_INTERVAL`] for as long as the host lives.
pub fn flush_in_background(host: &Arc<Host>) {
    // Weak, so that the host (and the store it holds open) is dropped when serving ends.
    let host = Arc::downgrade(host);
    let spawned = crate::background::spawn("nimbus-metering", "metering runtime", move || {
        flush_every_interval(host)
    });
    if let Err(error) = spawned {
        tracing::error!("cannot start the metering thread: {error}");
    }
}

async fn flush_every_interval(host: Weak<Host>) {
    let mut failing = false;
    loop {
        tokio::time::sleep(FLUSH_INTERVAL).await;
        let Some(host) = host.upgrade() else {
            return;
        };
        match flush(&host).await {
            Ok(()) => failing = false,
            Err(error) if !failing => {
                failing = true;
                tracing::warn!("cannot write metered usage (kept to retry): {error}");
            }
            Err(_) => {}
        }
    }
}

/// Writes what `host` metered and has not written yet.
pub async fn flush(host: &Host) -> Result<(), nimbus_kv::KvError> {
    let app = host.current().manifest.app.clone();
    host.runtime
        .usage()
        .flush(host.backends.kv.as_ref(), &app)
        .await
}

/// The last flush of a stopping process: what it metered since the last interval.
pub fn flush_at_exit(host: &Host) {
    let flushed = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())
        .and_then(|runtime| {
            runtime
                .block_on(flush(host))
                .map_err(|error| error.to_string())
        });
    if let Err(error) = flushed {
        tracing::warn!("the last metered usage was not written: {error}");
    }
}
