//! `nimbus dlq ...`, `nimbus queue publish` and `nimbus cron ...`: the app's dead letters,
//! queues and schedules from the command line, through the running host's socket when it
//! runs (as `nimbus users` does), else on the store directly.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;
use nimbus_queue::{EventLog, Payload, Publish, now_ms};

use crate::events::convert::message_json;
use crate::events::cron::Schedule;
use crate::manifest::{Manifest, TriggerSource};
use crate::services::StoreBackend;

/// `nimbus dlq` subcommands.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters: of one queue, or of every trigger's dead-letter queue.
    List {
        /// The dead-letter queue, e.g. `emails.dead`.
        #[arg(long)]
        queue: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print one dead letter: its event, every attempt's error and why it stopped.
    Show {
        /// The dead-letter queue.
        #[arg(long)]
        queue: String,
        /// The message id.
        id: String,
    },
    /// Deliver dead letters again from where they died, counting attempts from one.
    Replay {
        /// The dead-letter queue.
        #[arg(long)]
        queue: String,
        /// The message ids; none with `--all`.
        ids: Vec<String>,
        /// Every dead letter of the queue.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
    /// Delete every message of a queue.
    Purge {
        /// The queue.
        #[arg(long)]
        queue: String,
    },
}

/// `nimbus queue` subcommands.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Publish a message, as `POST /queue/v1/QUEUE` does.
    Publish {
        /// The queue.
        queue: String,
        /// The message (text).
        #[arg(long)]
        body: String,
        /// Deliver no sooner than this from now, e.g. `30s`.
        #[arg(long, value_parser = crate::manifest::HumanDuration::parse)]
        delay: Option<Duration>,
        /// Publish only if this key was not seen on the queue in the last 24 hours.
        #[arg(long)]
        dedupe_key: Option<String>,
    },
}

/// `nimbus cron` subcommands.
#[derive(Debug, Subcommand)]
pub enum CronCommand {
    /// Every schedule with its last and next run.
    List,
    /// Start a run of schedule NAME now (beside its ticks).
    Run {
        /// The `[[trigger.cron]]` name.
        name: String,
    },
}

fn event_log(manifest: &Manifest, data: &Path, store: &StoreBackend) -> anyhow::Result<EventLog> {
    let kv = crate::admin::open_kv(data, store)?;
    Ok(EventLog::new(kv, &manifest.app))
}

/// The app's dead-letter queues, in name order.
fn dead_letter_queues(manifest: &Manifest) -> Vec<String> {
    manifest.dead_letter_queues().into_iter().collect()
}

/// Runs `nimbus dlq COMMAND`.
pub async fn dlq(
    manifest: &Manifest,
    data: &Path,
    store: &StoreBackend,
    command: DlqCommand,
) -> anyhow::Result<()> {
    let log = event_log(manifest, data, store)?;
    let known = dead_letter_queues(manifest);
    let named = match &command {
        DlqCommand::List { queue, .. } => queue.as_ref(),
        DlqCommand::Show { queue, .. }
        | DlqCommand::Replay { queue, .. }
        | DlqCommand::Purge { queue } => Some(queue),
    };
    if let Some(queue) = named
        && !known.contains(queue)
    {
        anyhow::bail!(
            "`{queue}` is not a dead-letter queue of app `{}`; its dead-letter queues: {}",
            manifest.app,
            known.join(", ")
        );
    }
    match command {
        DlqCommand::List { queue, json } => {
            let queues = queue.map_or_else(|| dead_letter_queues(manifest), |q| vec![q]);
            let mut listed = Vec::new();
            for queue in queues {
                let mut cursor = None;
                loop {
                    let page = log.list(&queue, cursor.as_deref(), 100).await?;
                    listed.extend(page.messages);
                    match page.cursor {
                        Some(next) => cursor = Some(next),
                        None => break,
                    }
                }
            }
            if json {
                let values: Vec<serde_json::Value> = listed.iter().map(message_json).collect();
                println!("{}", serde_json::to_string_pretty(&values)?);
            } else if listed.is_empty() {
                println!("no dead letters");
            } else {
                for message in &listed {
                    let (from, reason) = message
                        .dead
                        .as_ref()
                        .map_or(("-", "-"), |d| (d.from.as_str(), d.reason.as_str()));
                    println!(
                        "{}  {}  from {from}: {reason}; last error: {}",
                        message.stream,
                        message.id,
                        message.attempts.last().map_or("-", |a| a.error.as_str())
                    );
                }
            }
        }
        DlqCommand::Show { queue, id } => {
            let message = log
                .get(&queue, &id)
                .await?
                .with_context(|| format!("queue `{queue}` has no message `{id}`"))?;
            println!("{}", serde_json::to_string_pretty(&message_json(&message))?);
        }
        DlqCommand::Replay { queue, ids, all } => {
            let ids = if all {
                let mut ids = Vec::new();
                let mut cursor = None;
                loop {
                    let page = log.list(&queue, cursor.as_deref(), 100).await?;
                    ids.extend(page.messages.into_iter().map(|m| m.id));
                    match page.cursor {
                        Some(next) => cursor = Some(next),
                        None => break ids,
                    }
                }
            } else if ids.is_empty() {
                anyhow::bail!("name the dead letters to replay, or pass --all");
            } else {
                ids
            };
            for id in &ids {
                if !log.replay(&queue, id).await? {
                    anyhow::bail!("queue `{queue}` has no dead letter `{id}`");
                }
            }
            println!("replayed {} dead letter(s) from {queue}", ids.len());
        }
        DlqCommand::Purge { queue } => {
            let mut removed = 0;
            loop {
                let batch = log.purge(&queue, 10_000).await?;
                if batch == 0 {
                    break;
                }
                removed += batch;
            }
            println!("removed {removed} message(s) from {queue}");
        }
    }
    Ok(())
}

/// Runs `nimbus queue COMMAND`.
pub async fn queue(
    manifest: &Manifest,
    data: &Path,
    store: &StoreBackend,
    command: QueueCommand,
) -> anyhow::Result<()> {
    let QueueCommand::Publish {
        queue,
        body,
        delay,
        dedupe_key,
    } = command;
    if !manifest.queues.contains(&queue) {
        anyhow::bail!(
            "app `{}` has no queue `{queue}`; its queues: {}",
            manifest.app,
            manifest
                .queues
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let log = event_log(manifest, data, store)?;
    let publish = Publish {
        delay: delay.unwrap_or_default(),
        dedupe_key,
        ..Publish::now(Payload::Message(body.into_bytes()))
    };
    let published = log.publish(&queue, publish).await?;
    if published.duplicate {
        println!("{} (a duplicate: nothing published)", published.id);
    } else {
        println!("{}", published.id);
    }
    Ok(())
}

/// Runs `nimbus cron COMMAND`.
pub async fn cron(
    manifest: &Manifest,
    data: &Path,
    store: &StoreBackend,
    command: CronCommand,
) -> anyhow::Result<()> {
    let log = event_log(manifest, data, store)?;
    let schedules = manifest
        .triggers
        .iter()
        .filter_map(|trigger| match &trigger.source {
            TriggerSource::Cron {
                name,
                schedule,
                timezone,
                ..
            } => Some((trigger, name, schedule, timezone)),
            _ => None,
        });
    match command {
        CronCommand::List => {
            let mut any = false;
            for (trigger, name, expression, timezone) in schedules {
                any = true;
                let schedule =
                    Schedule::new(expression, timezone.as_deref()).map_err(anyhow::Error::msg)?;
                let last = log.last_tick(name).await?;
                println!(
                    "{name}  `{expression}` {}  -> {}  last: {}  next: {}",
                    timezone.as_deref().unwrap_or("UTC"),
                    trigger.component,
                    last.map_or("never".to_string(), format_ms),
                    schedule
                        .next_after(now_ms())
                        .map_or("never".to_string(), format_ms),
                );
            }
            if !any {
                println!("app `{}` has no schedules", manifest.app);
            }
        }
        CronCommand::Run { name } => {
            let Some((trigger, _, expression, timezone)) =
                schedules.into_iter().find(|(_, n, ..)| **n == name)
            else {
                anyhow::bail!("app `{}` has no schedule `{name}`", manifest.app);
            };
            let schedule =
                Schedule::new(expression, timezone.as_deref()).map_err(anyhow::Error::msg)?;
            let now = now_ms();
            let run = Publish {
                expires_at_ms: schedule.next_after(now),
                ..Publish::now(Payload::Schedule {
                    name: name.clone(),
                    at_ms: now,
                })
            };
            let published = log.publish(&trigger.stream, run).await?;
            println!("started a run of `{name}`: event {}", published.id);
        }
    }
    Ok(())
}

fn format_ms(ms: u64) -> String {
    let time = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(time).to_string()
}
