//! One trigger's consumer in one worker process: it leases due events of the trigger's stream
//! (no more than its share of the trigger's `concurrency`), invokes the component with each,
//! and acknowledges, retries with backoff, or dead-letters it by the outcome.

use std::sync::{Arc, Weak};
use std::time::Duration;

use nimbus_queue::{Delivery, EventLog, MAX_HOPS, now_ms};
use tokio::sync::{Semaphore, watch};

use crate::host::Host;
use crate::manifest::{Retry, TriggerSpec};
use crate::metrics::events::StreamMetrics;
use crate::runtime::{InvokeError, LoadedComponent, Meta, Output, Trigger};

/// How often an idle consumer looks for events published by another process (events
/// published in its own process wake it at once).
const POLL: Duration = Duration::from_millis(20);
/// The wait after the event log failed, before trying again.
const FAILURE_PAUSE: Duration = Duration::from_secs(1);
/// How often the first process counts the events waiting in each stream, and makes due the
/// held-back events whose key has nothing in flight any more.
const LOOK_AFTER_INTERVAL: Duration = Duration::from_secs(5);

/// Consumes `trigger`'s stream with up to `share` events in flight, until `stop` turns true;
/// then waits up to `grace` for those in flight.
pub(super) async fn consume(
    host: Weak<Host>,
    trigger: TriggerSpec,
    share: usize,
    looks_after: bool,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let permits = Arc::new(Semaphore::new(share));
    let Some((log, component)) = parts(&host, &trigger) else {
        return;
    };
    let metrics = Arc::new(StreamMetrics::new(&trigger.stream));
    let trigger = Arc::new(trigger);
    let published = log.published();
    let mut looked_after = tokio::time::Instant::now() - LOOK_AFTER_INTERVAL;
    let mut stranded_cursor: Option<String> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        if looks_after && looked_after.elapsed() >= LOOK_AFTER_INTERVAL {
            looked_after = tokio::time::Instant::now();
            if let Ok(depth) = log.depth(&trigger.stream, 1_000_000).await {
                metrics.set_depth(depth);
            }
            match log
                .unpark_stranded(&trigger.stream, stranded_cursor.as_deref(), 200)
                .await
            {
                Ok((_, next)) => stranded_cursor = next,
                Err(error) => {
                    tracing::error!(stream = %trigger.stream, "cannot look for held-back events: {error}");
                }
            }
        }
        let wanted = permits.available_permits();
        if wanted == 0 {
            tokio::select! {
                permit = Arc::clone(&permits).acquire_owned() => drop(permit),
                _ = stop.changed() => {}
            }
            continue;
        }
        // Registered before looking, so that a publish while the lease runs is not missed.
        let woken = published.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let leased = match log.lease(&trigger.stream, wanted, trigger.lease).await {
            Ok(leased) => leased,
            Err(error) => {
                tracing::error!(stream = %trigger.stream, "cannot lease events: {error}");
                tokio::select! {
                    () = tokio::time::sleep(FAILURE_PAUSE) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        };
        if leased.is_empty() {
            tokio::select! {
                () = &mut woken => {}
                () = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        for delivery in leased {
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                // Cannot happen (no more were leased than permits were free); give it back.
                let _ = log.release(&delivery).await;
                continue;
            };
            let (host, log, trigger, component, metrics) = (
                Weak::clone(&host),
                log.clone(),
                Arc::clone(&trigger),
                Arc::clone(&component),
                Arc::clone(&metrics),
            );
            tokio::spawn(async move {
                if let Some(host) = host.upgrade() {
                    let settled = deliver(&host, &log, &trigger, &component, delivery).await;
                    match settled {
                        Settled::Handled => metrics.handled(),
                        Settled::Retried => metrics.retried(),
                        Settled::DeadLettered => metrics.dead_lettered(),
                        Settled::Released => metrics.released(),
                    }
                }
                drop(permit);
            });
        }
    }
    // Handlers in flight finish within the grace; nothing is leased any more.
    let everything = u32::try_from(share).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(grace, permits.acquire_many(everything)).await;
}

/// The event log and the component of `trigger`, from the version the host serves.
fn parts(host: &Weak<Host>, trigger: &TriggerSpec) -> Option<(EventLog, Arc<LoadedComponent>)> {
    let host = host.upgrade()?;
    let version = host.current();
    let component = version
        .components
        .iter()
        .find(|c| c.spec.name == trigger.component)?;
    Some((version.services.events.clone(), Arc::clone(component)))
}

/// How a delivery ended.
enum Settled {
    Handled,
    Retried,
    DeadLettered,
    Released,
}

/// Delivers one event and settles it by the outcome.
async fn deliver(
    host: &Host,
    log: &EventLog,
    trigger: &TriggerSpec,
    component: &Arc<LoadedComponent>,
    delivery: Delivery,
) -> Settled {
    let message = &delivery.message;
    let dead_letter = &trigger.retry.dead_letter;
    // A schedule's run that has not been tried yet runs however late it is: only its retries
    // stop at the next tick.
    let first_run = matches!(message.payload, nimbus_queue::Payload::Schedule { .. })
        && message.attempts.is_empty();
    if !first_run && message.expires_at_ms.is_some_and(|at| at <= now_ms()) {
        let reason = match message.payload {
            nimbus_queue::Payload::Schedule { .. } => {
                "the schedule's next tick came before this run succeeded"
            }
            _ => "it waited longer than the queue's retention",
        };
        settle(log.dead_letter(&delivery, None, reason, dead_letter).await);
        return Settled::DeadLettered;
    }
    if message.hop > MAX_HOPS {
        let reason = format!(
            "it was caused by a chain of {} handlers' writes (at most {MAX_HOPS}): a handler may be writing where its own trigger watches",
            message.hop
        );
        settle(log.dead_letter(&delivery, None, &reason, dead_letter).await);
        return Settled::DeadLettered;
    }
    let meta = Meta {
        attempt: delivery.attempt,
        hop: message.hop,
        ..Meta::new(format!("{}-{}", message.id, delivery.attempt))
    };
    let event = super::convert::to_event(message, delivery.attempt);
    let outcome = host
        .runtime
        .invoke(component, Trigger::Event(event), meta)
        .await;
    let error = match outcome {
        Ok(Output::Event(Ok(()))) => {
            // A lease that ran out meanwhile leaves the event to the delivery that has it.
            settle(log.ack(&delivery).await.map(drop));
            return Settled::Handled;
        }
        Ok(Output::Event(Err(error))) => error,
        Ok(_) => "the handler answered like an HTTP handler".to_string(),
        // At the component's concurrency limit: not the event's fault, so not an attempt.
        Err(InvokeError::Overloaded { .. }) => {
            settle(log.release(&delivery).await);
            return Settled::Released;
        }
        Err(error) => error.to_string(),
    };
    let retry = &trigger.retry;
    if delivery.attempt >= retry.max_attempts {
        let reason = format!("max_attempts ({}) reached", retry.max_attempts);
        settle(
            log.dead_letter(&delivery, Some(&error), &reason, dead_letter)
                .await,
        );
        Settled::DeadLettered
    } else {
        let delay = backoff(retry, delivery.attempt, jitter());
        settle(log.retry(&delivery, &error, delay).await.map(drop));
        Settled::Retried
    }
}

fn settle(outcome: Result<(), nimbus_queue::QueueError>) {
    if let Err(error) = outcome {
        // The lease runs out and the event is delivered again: at least once still holds.
        tracing::error!("cannot settle an event: {error}");
    }
}

/// A factor in 0.8..1.2.
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    0.8 + 0.4 * f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
}

/// The wait after failed attempt `attempt` (1 for the first): `backoff.initial` doubled for
/// each attempt before, times `jitter` (within ±20%, so that each wait still exceeds the one
/// before), at most `backoff.max`.
pub(super) fn backoff(retry: &Retry, attempt: u32, jitter: f64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(30);
    let base = retry.backoff_initial.as_secs_f64() * f64::from(1u32 << doublings) * jitter;
    Duration::try_from_secs_f64(base)
        .unwrap_or(retry.backoff_max)
        .min(retry.backoff_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_with_jitter_and_stop_at_the_max() {
        let retry = Retry {
            max_attempts: 10,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            dead_letter: "q.dead".into(),
        };
        assert_eq!(backoff(&retry, 1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(&retry, 3, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(&retry, 20, 1.0), Duration::from_secs(60));
        let long = Retry {
            backoff_initial: Duration::from_secs(200_000 * 86_400),
            backoff_max: Duration::from_secs(86_400),
            ..retry.clone()
        };
        assert_eq!(
            backoff(&long, 40, 1.2),
            Duration::from_secs(86_400),
            "no overflow"
        );
        // The longest wait after one attempt is shorter than the shortest after the next.
        for attempt in 1..6 {
            assert!(backoff(&retry, attempt, 1.2) < backoff(&retry, attempt + 1, 0.8));
        }
        for _ in 0..100 {
            let factor = jitter();
            assert!((0.8..=1.2).contains(&factor), "{factor}");
        }
    }
}
