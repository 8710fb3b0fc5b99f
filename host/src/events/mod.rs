//! Triggers other than HTTP: every worker process runs a consumer for each `[[trigger.*]]`
//! (its share of the trigger's `concurrency`) and watches every schedule, on a thread of its
//! own. Events go through the app's event log ([`nimbus_queue::EventLog`]) and reach guests
//! through the one invoker, as HTTP requests do.

pub mod convert;
pub mod cron;
mod delivery;
pub mod fixture;
mod retention;
pub mod watched_kv;
pub mod watched_objects;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::host::Host;
use crate::manifest::TriggerSource;

/// Where this process stands among the host's processes.
#[derive(Debug, Clone, Copy)]
pub struct ProcessPlace {
    /// 0 for the first process, 1.. for the worker processes it starts.
    pub index: usize,
    /// How many processes serve.
    pub count: usize,
}

impl ProcessPlace {
    /// This process's part of a host-wide `concurrency`: an even split, the first processes
    /// taking what does not divide evenly, so that the parts add up to exactly `concurrency`.
    pub fn share(&self, concurrency: u32) -> usize {
        let count = self.count.max(1);
        let total = usize::try_from(concurrency).unwrap_or(usize::MAX);
        total / count + usize::from(self.index % count < total % count)
    }
}

/// The running consumers and schedules of this process.
pub struct Events {
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Events {
    /// Stops taking events; handlers in flight go on for up to the grace given at start.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops, and waits for the handlers in flight.
    pub fn stop_and_wait(mut self) {
        self.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts this process's consumers and schedules for the version `host` serves; `None` when
/// the app has no triggers.
pub fn start(
    host: &Arc<Host>,
    place: ProcessPlace,
    grace: Duration,
) -> std::io::Result<Option<Events>> {
    let manifest = &host.current().manifest;
    let triggers = manifest.triggers.clone();
    // The first process looks after the queues nothing consumes.
    let unconsumed = if place.index == 0 {
        manifest.unconsumed_queues()
    } else {
        Vec::new()
    };
    if triggers.is_empty() && unconsumed.is_empty() {
        return Ok(None);
    }
    let (stop, stopped) = watch::channel(false);
    // Weak, so that the host (and the stores it holds) is dropped when serving ends.
    let host = Arc::downgrade(host);
    let thread = crate::background::spawn("nimbus-events", "event runtime", move || async move {
        let mut tasks = Vec::new();
        if !unconsumed.is_empty() {
            let (host, stopped) = (host.clone(), stopped.clone());
            tasks.push(tokio::spawn(retention::sweep(host, unconsumed, stopped)));
        }
        for trigger in triggers {
            if let TriggerSource::Cron { .. } = trigger.source {
                let (host, stopped) = (host.clone(), stopped.clone());
                let watched = trigger.clone();
                tasks.push(tokio::spawn(cron::watch(host, watched, stopped)));
            }
            let share = place.share(trigger.concurrency);
            if share > 0 {
                let (host, stopped) = (host.clone(), stopped.clone());
                tasks.push(tokio::spawn(delivery::consume(
                    host,
                    trigger,
                    share,
                    place.index == 0,
                    stopped,
                    grace,
                )));
            }
        }
        for task in tasks {
            let _ = task.await;
        }
    })?;
    Ok(Some(Events {
        stop,
        thread: Some(thread),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_concurrency() {
        for count in 1..5 {
            for concurrency in 1..12u32 {
                let total: usize = (0..count)
                    .map(|index| ProcessPlace { index, count }.share(concurrency))
                    .sum();
                assert_eq!(total, concurrency as usize, "{concurrency} over {count}");
            }
        }
        let place = |index| ProcessPlace { index, count: 2 };
        assert_eq!((place(0).share(1), place(1).share(1)), (1, 0));
    }
}
