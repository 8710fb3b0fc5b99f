//! `[[trigger.queue]]`, `[[trigger.cron]]`, `[[trigger.object]]` and `[[trigger.kv]]`: what
//! starts a component besides its HTTP routes, and how failed events are retried.
//!
//! Every trigger consumes one event stream of the app's event log: a queue trigger its queue,
//! the others a stream of their own named after the trigger (`cron:NAME`,
//! `object:BUCKET:COMPONENT`, `kv:STORE:COMPONENT`), which no queue name can spell (queue
//! names have no `:`).

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;
use serde_spanned::Spanned;

use crate::schema::Name;
use crate::units::HumanDuration;

/// `max_attempts` when unset, counting the first delivery (Lambda's asynchronous default).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Most `max_attempts` accepted.
pub const MAX_ATTEMPTS: u32 = 100;
/// `backoff.initial` when unset.
pub const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// `backoff.max` when unset.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A queue trigger's `concurrency` when unset: events of that queue in flight at once, over
/// every worker process.
pub const DEFAULT_QUEUE_CONCURRENCY: u32 = 10;
/// What a trigger's `lease` adds to its component's `limits.timeout` when unset, so that a
/// handler that runs to its timeout still ends before its lease does.
pub const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// The least a `lease` must exceed the component's timeout by: an invocation may wait for a
/// concurrency slot and load its code before its timeout starts.
pub const MIN_LEASE_MARGIN: Duration = Duration::from_secs(5);
/// The longest `backoff.max`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);

/// A queue name: 1 to 63 of `a-z`, `0-9`, `-`, `_`, `.`, starting with a letter (so that the
/// default dead-letter queue `NAME.dead` is a queue name too).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct QueueName(pub String);

impl TryFrom<String> for QueueName {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if is_queue_name(&text) {
            Ok(Self(text))
        } else {
            Err(format!(
                "`{text}` is not a valid queue name; use 1-63 lowercase letters, digits, `-`, `_` or `.`, starting with a letter"
            ))
        }
    }
}

/// Whether `text` is a valid queue name (see [`QueueName`]).
pub fn is_queue_name(text: &str) -> bool {
    let mut chars = text.chars();
    let starts_well = matches!(chars.next(), Some(c) if c.is_ascii_lowercase());
    starts_well
        && text.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// How a trigger's failed events are retried, and where they go when retries run out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// Deliveries in all, counting the first.
    pub max_attempts: u32,
    /// The wait before the second delivery; each later wait doubles, up to `backoff_max`.
    pub backoff_initial: Duration,
    /// The longest wait between two deliveries.
    pub backoff_max: Duration,
    /// The queue that takes events whose attempts ran out.
    pub dead_letter: String,
}

/// What starts a trigger's component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerSource {
    /// Messages published to `queue`.
    Queue {
        /// The queue.
        queue: String,
    },
    /// A schedule.
    Cron {
        /// The trigger's `name`.
        name: String,
        /// The cron expression, as written (5 fields, or 6 with seconds).
        schedule: String,
        /// The IANA time zone the expression is read in; `None` is UTC.
        timezone: Option<String>,
        /// Whether one run missed while the host was down is made up at start.
        catch_up: CatchUp,
    },
    /// Objects created in or deleted from `bucket`.
    Object {
        /// The bucket.
        bucket: String,
        /// Whether stored objects start it.
        created: bool,
        /// Whether removed objects start it.
        deleted: bool,
        /// Only keys starting with this.
        prefix: String,
        /// Only keys ending with this.
        suffix: String,
    },
    /// Entries of `store` set or deleted.
    Kv {
        /// The store.
        store: String,
        /// Only keys starting with this.
        prefix: String,
    },
}

/// What a schedule does about runs it missed while the host was down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CatchUp {
    /// Nothing: the next run is the next tick.
    #[default]
    None,
    /// One run, at start, for the latest tick missed.
    One,
}

/// One `[[trigger.*]]`, resolved.
#[derive(Debug, Clone)]
pub struct TriggerSpec {
    /// The component it starts.
    pub component: String,
    /// What starts it.
    pub source: TriggerSource,
    /// The event stream it consumes (see the module documentation).
    pub stream: String,
    /// Retries and dead letters.
    pub retry: Retry,
    /// Events in flight at once over every worker process.
    pub concurrency: u32,
    /// How long a handler holds an event before it is delivered again.
    pub lease: Duration,
    pub(crate) span: std::ops::Range<usize>,
}

impl TriggerSpec {
    /// The manifest key it was declared under, e.g. `trigger.queue`.
    pub fn key(&self) -> &'static str {
        match self.source {
            TriggerSource::Queue { .. } => "trigger.queue",
            TriggerSource::Cron { .. } => "trigger.cron",
            TriggerSource::Object { .. } => "trigger.object",
            TriggerSource::Kv { .. } => "trigger.kv",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTriggers {
    #[serde(default)]
    queue: Vec<Spanned<RawQueueTrigger>>,
    #[serde(default)]
    cron: Vec<Spanned<RawCronTrigger>>,
    #[serde(default)]
    object: Vec<Spanned<RawObjectTrigger>>,
    #[serde(default)]
    kv: Vec<Spanned<RawKvTrigger>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackoff {
    initial: Option<HumanDuration>,
    max: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueueTrigger {
    queue: QueueName,
    component: Name,
    max_attempts: Option<u32>,
    backoff: Option<RawBackoff>,
    dead_letter: Option<QueueName>,
    concurrency: Option<u32>,
    lease: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCronTrigger {
    name: Name,
    schedule: String,
    timezone: Option<String>,
    component: Name,
    #[serde(default)]
    catch_up: CatchUp,
    max_attempts: Option<u32>,
    backoff: Option<RawBackoff>,
    dead_letter: Option<QueueName>,
    lease: Option<HumanDuration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ObjectEvent {
    Created,
    Deleted,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObjectTrigger {
    bucket: Name,
    events: Vec<ObjectEvent>,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    suffix: String,
    component: Name,
    max_attempts: Option<u32>,
    backoff: Option<RawBackoff>,
    dead_letter: Option<QueueName>,
    concurrency: Option<u32>,
    lease: Option<HumanDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKvTrigger {
    store: Name,
    #[serde(default)]
    prefix: String,
    component: Name,
    max_attempts: Option<u32>,
    backoff: Option<RawBackoff>,
    dead_letter: Option<QueueName>,
    concurrency: Option<u32>,
    lease: Option<HumanDuration>,
}

/// What resolving a trigger needs to know about the rest of the manifest.
pub(crate) struct Context<'a> {
    /// Component names with their `limits.timeout` and `limits.max_concurrency`.
    pub components: &'a [(String, Duration, u32)],
    /// Declared buckets.
    pub buckets: &'a BTreeSet<String>,
}

/// A trigger error: the message and where in the file it belongs.
pub(crate) type Located = (usize, String);

/// The keys every trigger kind shares.
struct Common {
    component: Name,
    max_attempts: Option<u32>,
    backoff: Option<RawBackoff>,
    dead_letter: Option<QueueName>,
    concurrency: Option<u32>,
    lease: Option<HumanDuration>,
}

/// The keys every trigger kind shares, taken from a raw trigger table, with its
/// `concurrency`.
macro_rules! common {
    ($raw:expr, $concurrency:expr) => {
        Common {
            component: $raw.component,
            max_attempts: $raw.max_attempts,
            backoff: $raw.backoff,
            dead_letter: $raw.dead_letter,
            concurrency: $concurrency,
            lease: $raw.lease,
        }
    };
}

impl RawTriggers {
    /// Every trigger, resolved and checked against `context`.
    pub(crate) fn resolve(self, context: &Context<'_>) -> Result<Vec<TriggerSpec>, Located> {
        let mut triggers = Vec::new();
        for raw in self.queue {
            let (span, raw) = (raw.span(), raw.into_inner());
            let source = TriggerSource::Queue {
                queue: raw.queue.0.clone(),
            };
            let common = common!(raw, raw.concurrency);
            triggers.push(resolve(source, raw.queue.0, common, span, context)?);
        }
        for raw in self.cron {
            let (span, raw) = (raw.span(), raw.into_inner());
            check_schedule(&raw.schedule).map_err(|why| {
                (
                    span.start,
                    format!(
                        "trigger.cron `{}`: schedule: `{}` is not a cron expression: {why}; write 5 fields (minute hour day-of-month month day-of-week, e.g. \"*/5 * * * *\") or 6 with seconds first",
                        raw.name.0, raw.schedule
                    ),
                )
            })?;
            if let Some(zone) = &raw.timezone
                && zone.parse::<chrono_tz::Tz>().is_err()
            {
                return Err((
                    span.start,
                    format!(
                        "trigger.cron `{}`: timezone: `{zone}` is not an IANA time zone; write e.g. \"Europe/Paris\" or \"America/New_York\", or leave it out for UTC",
                        raw.name.0
                    ),
                ));
            }
            let stream = format!("cron:{}", raw.name.0);
            let source = TriggerSource::Cron {
                name: raw.name.0,
                schedule: raw.schedule,
                timezone: raw.timezone,
                catch_up: raw.catch_up,
            };
            // One schedule never overlaps itself.
            let common = common!(raw, Some(1));
            triggers.push(resolve(source, stream, common, span, context)?);
        }
        for raw in self.object {
            let (span, raw) = (raw.span(), raw.into_inner());
            if !context.buckets.contains(&raw.bucket.0) {
                return Err((
                    span.start,
                    format!(
                        "trigger.object: bucket `{}` is not declared; add a [bucket.{}] table",
                        raw.bucket.0, raw.bucket.0
                    ),
                ));
            }
            if raw.events.is_empty() {
                return Err((
                    span.start,
                    "trigger.object: events: list \"created\", \"deleted\" or both".to_string(),
                ));
            }
            let stream = format!("object:{}:{}", raw.bucket.0, raw.component.0);
            let source = TriggerSource::Object {
                bucket: raw.bucket.0,
                created: raw.events.contains(&ObjectEvent::Created),
                deleted: raw.events.contains(&ObjectEvent::Deleted),
                prefix: raw.prefix,
                suffix: raw.suffix,
            };
            let common = common!(raw, raw.concurrency);
            triggers.push(resolve(source, stream, common, span, context)?);
        }
        for raw in self.kv {
            let (span, raw) = (raw.span(), raw.into_inner());
            let stream = format!("kv:{}:{}", raw.store.0, raw.component.0);
            let source = TriggerSource::Kv {
                store: raw.store.0,
                prefix: raw.prefix,
            };
            let common = common!(raw, raw.concurrency);
            triggers.push(resolve(source, stream, common, span, context)?);
        }
        check_unique(&triggers)?;
        Ok(triggers)
    }
}

/// Checks a cron expression as the host will read it: 5 fields, or 6 with seconds first.
pub fn check_schedule(schedule: &str) -> Result<croner::Cron, String> {
    let fields = schedule.split_whitespace().count();
    if !schedule.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
        return Err(format!("it has {fields} fields"));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(schedule)
        .map_err(|error| error.to_string())
}

fn resolve(
    source: TriggerSource,
    stream: String,
    common: Common,
    span: std::ops::Range<usize>,
    context: &Context<'_>,
) -> Result<TriggerSpec, Located> {
    let what = match &source {
        TriggerSource::Queue { queue } => format!("trigger.queue `{queue}`"),
        TriggerSource::Cron { name, .. } => format!("trigger.cron `{name}`"),
        TriggerSource::Object { bucket, .. } => format!("trigger.object on bucket `{bucket}`"),
        TriggerSource::Kv { store, .. } => format!("trigger.kv on store `{store}`"),
    };
    let fail = |message: String| (span.start, format!("{what}: {message}"));
    let component = common.component.0;
    let Some((_, timeout, max_concurrency)) = context
        .components
        .iter()
        .find(|(name, ..)| *name == component)
    else {
        return Err(fail(format!(
            "component: `{component}` is not declared; add a [component.{component}] table"
        )));
    };
    let max_attempts = common.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
    if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
        return Err(fail(format!(
            "max_attempts: must be between 1 and {MAX_ATTEMPTS} (it counts the first delivery)"
        )));
    }
    let (initial, max) = match common.backoff {
        Some(RawBackoff { initial, max }) => (
            initial.map_or(DEFAULT_BACKOFF_INITIAL, |d| d.0),
            max.map_or(DEFAULT_BACKOFF_MAX, |d| d.0),
        ),
        None => (DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX),
    };
    if initial > max {
        return Err(fail(format!(
            "backoff: initial ({initial:?}) is longer than max ({max:?})"
        )));
    }
    if max > MAX_BACKOFF {
        return Err(fail(
            "backoff: max may be at most 24 hours (\"1d\")".to_string(),
        ));
    }
    let dead_letter = match common.dead_letter {
        Some(queue) => queue.0,
        None => match &source {
            TriggerSource::Queue { queue } => format!("{queue}.dead"),
            _ => format!("{component}.dead"),
        },
    };
    if let TriggerSource::Queue { queue } = &source
        && *queue == dead_letter
    {
        return Err(fail(
            "dead_letter: a queue cannot be its own dead-letter queue".to_string(),
        ));
    }
    let concurrency = common
        .concurrency
        .unwrap_or(DEFAULT_QUEUE_CONCURRENCY.min(*max_concurrency));
    if concurrency == 0 || concurrency > *max_concurrency {
        return Err(fail(format!(
            "concurrency: must be between 1 and the component's limits.max_concurrency ({max_concurrency}), whose slots it shares with the component's routes"
        )));
    }
    let lease = common.lease.map_or(*timeout + LEASE_MARGIN, |d| d.0);
    if lease < *timeout + MIN_LEASE_MARGIN {
        return Err(fail(format!(
            "lease: {lease:?} must exceed the component's limits.timeout ({timeout:?}) by at least {MIN_LEASE_MARGIN:?}; a handler still running would see its event delivered again"
        )));
    }
    Ok(TriggerSpec {
        component,
        source,
        stream,
        retry: Retry {
            max_attempts,
            backoff_initial: initial,
            backoff_max: max,
            dead_letter,
        },
        concurrency,
        lease,
        span,
    })
}

/// One consumer per queue and per trigger stream, and one name per schedule.
fn check_unique(triggers: &[TriggerSpec]) -> Result<(), Located> {
    for (index, trigger) in triggers.iter().enumerate() {
        if let Some(earlier) = triggers[..index]
            .iter()
            .find(|t| t.stream == trigger.stream)
        {
            let message = match (&trigger.source, &earlier.source) {
                (TriggerSource::Queue { queue }, _) => format!(
                    "trigger.queue: queue `{queue}` already has a consumer (component `{}`); a queue has one consumer trigger",
                    earlier.component
                ),
                (TriggerSource::Cron { name, .. }, _) => {
                    format!("trigger.cron: the name `{name}` is taken by another schedule")
                }
                (TriggerSource::Object { bucket, .. }, _) => format!(
                    "trigger.object: component `{}` already has a trigger on bucket `{bucket}`; list every event and key filter it needs in one",
                    trigger.component
                ),
                (TriggerSource::Kv { store, .. }, _) => format!(
                    "trigger.kv: component `{}` already has a trigger on store `{store}`; use one with the prefix that covers both",
                    trigger.component
                ),
            };
            return Err((trigger.span.start, message));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_take_five_or_six_fields() {
        assert!(check_schedule("*/5 * * * *").is_ok());
        assert!(check_schedule("* * * * * *").is_ok());
        assert!(check_schedule("@hourly").is_ok());
        assert!(check_schedule("* * * *").is_err());
        assert!(check_schedule("* * * * * * 2030").is_err());
        assert!(check_schedule("61 * * * *").is_err());
        assert!(check_schedule("every minute").is_err());
    }

    #[test]
    fn queue_names_allow_dots_but_no_colons() {
        assert!(is_queue_name("emails.dead"));
        assert!(is_queue_name("a"));
        assert!(!is_queue_name("cron:nightly"));
        assert!(!is_queue_name("Emails"));
        assert!(!is_queue_name(".dead"));
        assert!(!is_queue_name(&"q".repeat(64)));
    }
}
