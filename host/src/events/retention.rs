//! Queues that nothing consumes (granted for publishing, with no `[[trigger.queue]]`): their
//! messages wait for a consumer a later version may add, and those that outlive the queue's
//! retention are dead-lettered to `QUEUE.dead` with the reason, as consumed queues' are when
//! their turn comes.

use std::sync::Weak;
use std::time::Duration;

use tokio::sync::watch;

use crate::host::Host;

/// How often the queues are looked at.
const INTERVAL: Duration = Duration::from_secs(60);
/// Most messages one look dead-letters per queue.
const PER_LOOK: usize = 1000;

/// Sweeps `queues` (each with its dead-letter queue) until `stop` turns true.
pub(super) async fn sweep(
    host: Weak<Host>,
    queues: Vec<(String, String)>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let Some(log) = host
            .upgrade()
            .map(|host| host.current().services.events.clone())
        else {
            return;
        };
        for (queue, dead_letter) in &queues {
            match log.expire(queue, dead_letter, PER_LOOK).await {
                Ok(0) => {}
                Ok(expired) => tracing::warn!(
                    queue = %queue,
                    expired,
                    "messages nothing handled within the retention went to {dead_letter}"
                ),
                Err(error) => tracing::error!(queue = %queue, "cannot sweep the queue: {error}"),
            }
        }
        drop(log);
        tokio::select! {
            () = tokio::time::sleep(INTERVAL) => {}
            _ = stop.changed() => return,
        }
    }
}
