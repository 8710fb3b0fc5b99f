//! Schedules: every worker process watches every `[[trigger.cron]]`, and at each tick the one
//! that claims it first in the event log publishes the run, so a schedule fires once per host
//! however many processes serve. A run still going (or waiting for a retry) when the next tick
//! comes makes that tick skip, so that a schedule never overlaps itself.

use std::sync::Weak;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use nimbus_queue::{EventLog, Payload, Publish, now_ms};
use tokio::sync::watch;

use crate::host::Host;
use crate::manifest::{CatchUp, TriggerSource, TriggerSpec};

/// A parsed schedule in its time zone.
pub struct Schedule {
    cron: croner::Cron,
    zone: chrono_tz::Tz,
}

impl Schedule {
    /// The schedule of a cron trigger's expression and time zone (UTC when none).
    pub fn new(expression: &str, timezone: Option<&str>) -> Result<Self, String> {
        let cron = crate::manifest::check_schedule(expression)?;
        let zone = match timezone {
            Some(name) => name
                .parse()
                .map_err(|_| format!("`{name}` is not an IANA time zone"))?,
            None => chrono_tz::UTC,
        };
        Ok(Self { cron, zone })
    }

    fn at(&self, ms: u64) -> Option<DateTime<chrono_tz::Tz>> {
        let utc = Utc.timestamp_millis_opt(i64::try_from(ms).ok()?).single()?;
        Some(utc.with_timezone(&self.zone))
    }

    /// The first tick after `ms` (milliseconds since the Unix epoch).
    pub fn next_after(&self, ms: u64) -> Option<u64> {
        let next = self.cron.find_next_occurrence(&self.at(ms)?, false).ok()?;
        u64::try_from(next.timestamp_millis()).ok()
    }

    /// The last tick at or before `ms`.
    pub fn last_at_or_before(&self, ms: u64) -> Option<u64> {
        let previous = self
            .cron
            .find_previous_occurrence(&self.at(ms)?, true)
            .ok()?;
        u64::try_from(previous.timestamp_millis()).ok()
    }
}

/// Runs schedule `trigger` until `stop` turns true.
pub(super) async fn watch(host: Weak<Host>, trigger: TriggerSpec, mut stop: watch::Receiver<bool>) {
    let TriggerSource::Cron {
        name,
        schedule,
        timezone,
        catch_up,
    } = &trigger.source
    else {
        return;
    };
    let schedule = match Schedule::new(schedule, timezone.as_deref()) {
        Ok(schedule) => schedule,
        Err(error) => {
            tracing::error!(schedule = %name, "cannot run the schedule: {error}");
            return;
        }
    };
    let Some(log) = host
        .upgrade()
        .map(|host| host.current().services.events.clone())
    else {
        return;
    };
    if *catch_up == CatchUp::One {
        catch_up_one(&log, &trigger, name, &schedule).await;
    }
    let mut after = now_ms();
    loop {
        let Some(tick) = schedule.next_after(after) else {
            tracing::warn!(schedule = %name, "the schedule has no next tick");
            return;
        };
        let wait = Duration::from_millis(tick.saturating_sub(now_ms()));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        // The timer may wake a little early: never fire before the tick.
        while now_ms() < tick {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        fire(&log, &trigger, name, &schedule, tick).await;
        after = tick;
    }
}

/// At start, with `catch_up = "one"`: one run for the latest tick missed while no process of
/// the host was there to claim it.
async fn catch_up_one(log: &EventLog, trigger: &TriggerSpec, name: &str, schedule: &Schedule) {
    let Some(latest) = schedule.last_at_or_before(now_ms()) else {
        return;
    };
    match log.last_tick(name).await {
        Ok(Some(last)) if last < latest => {
            tracing::info!(schedule = %name, tick = latest, "catching up one missed run");
            fire(log, trigger, name, schedule, latest).await;
        }
        Ok(_) => {}
        Err(error) => tracing::error!(schedule = %name, "cannot read the last run: {error}"),
    }
}

async fn fire(log: &EventLog, trigger: &TriggerSpec, name: &str, schedule: &Schedule, tick: u64) {
    let overlapping = match log.has_live(&trigger.stream).await {
        Ok(live) => live,
        Err(error) => {
            tracing::error!(schedule = %name, "cannot look for a run still going: {error}");
            return;
        }
    };
    let publish = (!overlapping).then(|| {
        let run = Publish {
            // A failed run is retried only until the next tick.
            expires_at_ms: schedule.next_after(tick),
            ..Publish::now(Payload::Schedule {
                name: name.to_string(),
                at_ms: tick,
            })
        };
        (trigger.stream.as_str(), run)
    });
    match log.claim_tick(name, tick, publish).await {
        Ok(true) if overlapping => tracing::warn!(
            schedule = %name,
            component = %trigger.component,
            tick,
            "skipped a run: the previous one is still going"
        ),
        Ok(_) => {}
        Err(error) => tracing::error!(schedule = %name, tick, "cannot start a run: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_follow_the_expression_in_its_zone() -> Result<(), String> {
        let every_second = Schedule::new("* * * * * *", None)?;
        assert_eq!(every_second.next_after(1_000), Some(2_000));
        assert_eq!(every_second.next_after(1_500), Some(2_000));
        assert_eq!(every_second.last_at_or_before(2_000), Some(2_000));
        // 03:00 in Paris on 2026-01-15 is 02:00 UTC.
        let nightly = Schedule::new("0 3 * * *", Some("Europe/Paris"))?;
        let noon_utc = 1_768_478_400_000; // 2026-01-15T12:00:00Z
        assert_eq!(nightly.next_after(noon_utc), Some(1_768_528_800_000));
        assert!(Schedule::new("* * *", None).is_err());
        Ok(())
    }
}
