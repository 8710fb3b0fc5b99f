//! The nimbus event log: every queue message, schedule tick and object or key-value change
//! that starts a component waits here until a handler has taken it. It lives in one reserved
//! store of the app's [`KvStore`], so an event commits in the same transaction as the write
//! that caused it ([`EventLog::event_ops`]), and every worker process shares the work.
//!
//! Keys of the store [`EVENTS_STORE`]:
//! - `m/STREAM/ID`: the [`Message`];
//! - `r/STREAM/DUE/ID`: when it may be delivered next (DUE is 16 hex digits of milliseconds
//!   since the Unix epoch), valued with the deliveries begun so far. A delivery *leases* the
//!   message by moving this key to the end of the lease in one conditional batch, so exactly
//!   one process wins it, and a process that dies mid-event loses it when the lease ends;
//! - `o/STREAM/HASH/ID`: for events of one kv or object key (HASH of the key), the order they
//!   must be delivered in; only the first of a key is delivered;
//! - `h/STREAM/HASH`: the id of the event of that key in flight (leased, or waiting for a
//!   retry), so that no other event of the key starts before it is settled, whatever order
//!   the events' commits came in;
//! - `d/STREAM/HASH`: a publish's dedupe key, valued with the first message's id, for 24 h;
//! - `c/NAME`: the last tick of schedule NAME that a process claimed.
//!
//! The operations are plain conditional batches, the shape that a PostgreSQL backend serves
//! with `FOR UPDATE SKIP LOCKED`.
#![deny(missing_docs)]

mod error;
mod ids;
mod message;

use std::sync::Arc;
use std::time::Duration;

use nimbus_kv::{Batch, BatchOp, Condition, KvStore, StoreId};
use tokio::sync::Notify;

pub use error::QueueError;
pub use ids::{new_id, now_ms};
pub use message::{Attempt, Dead, Message, Payload};

/// The reserved key-value store (per app) that holds the event log. Not a valid manifest
/// store name, so no guest can be granted it.
pub const EVENTS_STORE: &str = "~events";
/// Largest message body (Workers Queues: 128 KB).
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
/// Longest publish delay.
pub const MAX_DELAY: Duration = Duration::from_secs(12 * 3600);
/// How long a dedupe key is remembered.
pub const DEDUPE_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Longest dedupe key, in bytes.
pub const MAX_DEDUPE_KEY_BYTES: usize = 256;
/// How long a queue message waits for a handler before it is dead-lettered.
pub const RETENTION: Duration = Duration::from_secs(4 * 24 * 3600);
/// Events one handler's writes may cause in a chain before the next is dead-lettered.
pub const MAX_HOPS: u32 = 16;
/// Most messages one [`EventLog::lease`] call takes: each takes up to five operations of one
/// batch.
pub const MAX_LEASE_BATCH: usize = nimbus_kv::MAX_BATCH_OPS / 5;
/// Longest error kept per failed attempt, in bytes; the rest is cut.
pub const MAX_ERROR_BYTES: usize = 2048;
/// Failed attempts kept per message: the latest ones.
pub const MAX_KEPT_ATTEMPTS: usize = 20;

/// What to publish.
#[derive(Debug, Clone)]
pub struct Publish {
    /// The event.
    pub payload: Payload,
    /// Deliver no sooner than this from now.
    pub delay: Duration,
    /// Drop the publish if this key was seen on the stream in the last 24 h.
    pub dedupe_key: Option<String>,
    /// Deliver in order with the other events of this key.
    pub order_key: Option<String>,
    /// The publishing handler's event's hop count plus one; 0 from outside any handler.
    pub hop: u32,
    /// Dead-letter it instead of delivering it after this moment (milliseconds since the Unix
    /// epoch); a queue message's default is its due time plus [`RETENTION`].
    pub expires_at_ms: Option<u64>,
}

impl Publish {
    /// A publish of `payload`, due now, with no key and no expiry.
    pub fn now(payload: Payload) -> Self {
        Self {
            payload,
            delay: Duration::ZERO,
            dedupe_key: None,
            order_key: None,
            hop: 0,
            expires_at_ms: None,
        }
    }
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The message's id; for a duplicate, the first message's.
    pub id: String,
    /// Whether the dedupe key had been seen, so nothing was published.
    pub duplicate: bool,
}

/// A message leased for one delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message.
    pub message: Message,
    /// This delivery's number: 1 for the first.
    pub attempt: u32,
    ready_key: String,
    ready_value: Vec<u8>,
}

/// A due message a lease call means to take.
struct Candidate {
    key: String,
    value: Vec<u8>,
    leased_key: String,
    attempt: u32,
    message: Message,
    /// For an event with an order key: its key's in-flight mark and what it must be.
    head: Option<(String, Condition)>,
}

/// One page of messages.
#[derive(Debug, Clone, Default)]
pub struct MessagePage {
    /// The messages, in id order.
    pub messages: Vec<Message>,
    /// Pass back to continue; `None` at the end.
    pub cursor: Option<String>,
}

/// The event log of one app.
#[derive(Clone)]
pub struct EventLog {
    kv: Arc<dyn KvStore>,
    store: StoreId,
    published: Arc<Notify>,
}

fn message_key(stream: &str, id: &str) -> String {
    format!("m/{stream}/{id}")
}

fn ready_key(stream: &str, due_ms: u64, id: &str) -> String {
    format!("r/{stream}/{due_ms:016x}/{id}")
}

fn hash(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..16])
}

fn order_prefix(stream: &str, order_key: &str) -> String {
    format!("o/{stream}/{}/", hash(order_key))
}

fn head_key(stream: &str, order_key: &str) -> String {
    format!("h/{stream}/{}", hash(order_key))
}

/// Checks a stream name: it is part of every key of the stream, so it may hold no `/`.
fn check_stream(stream: &str) -> Result<(), QueueError> {
    if stream.is_empty() || stream.contains('/') || stream.len() > 200 {
        return Err(QueueError::Invalid(format!(
            "`{stream}` is not a queue or stream name"
        )));
    }
    Ok(())
}

/// `message` with one more failed attempt: its error cut to [`MAX_ERROR_BYTES`], and only
/// the latest [`MAX_KEPT_ATTEMPTS`] kept, so that no error can make the record too large to
/// write back.
fn with_attempt(message: &Message, error: &str, at_ms: u64) -> Message {
    let mut message = message.clone();
    let mut cut = error.len().min(MAX_ERROR_BYTES);
    while !error.is_char_boundary(cut) {
        cut -= 1;
    }
    message.attempts.push(Attempt {
        at_ms,
        error: error[..cut].to_string(),
    });
    let excess = message.attempts.len().saturating_sub(MAX_KEPT_ATTEMPTS);
    message.attempts.drain(..excess);
    message
}

fn dedupe_key(stream: &str, key: &str) -> String {
    format!("d/{stream}/{}", hash(key))
}

fn decode_tick(bytes: &[u8]) -> Result<u64, QueueError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| QueueError::Corrupt("a schedule's last tick is not a number".into()))
}

/// The due time and id of a `r/STREAM/DUE/ID` key.
fn parse_ready(key: &str, prefix: &str) -> Option<(u64, String)> {
    let (due, id) = key.strip_prefix(prefix)?.split_once('/')?;
    Some((u64::from_str_radix(due, 16).ok()?, id.to_string()))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl EventLog {
    /// The event log of `app`, kept in `kv`.
    pub fn new(kv: Arc<dyn KvStore>, app: &str) -> Self {
        Self {
            kv,
            store: StoreId::new(app, EVENTS_STORE),
            published: Arc::new(Notify::new()),
        }
    }

    /// Told after every publish through this log (or its clones) commits, so that consumers
    /// in the same process need not wait for their next look.
    pub fn published(&self) -> Arc<Notify> {
        Arc::clone(&self.published)
    }

    /// Tells the consumers that [`EventLog::event_ops`] writes have committed.
    pub fn notify_published(&self) {
        self.published.notify_waiters();
    }

    /// Checks what a publish would carry against the limits.
    fn check(publish: &Publish) -> Result<(), QueueError> {
        if let Payload::Message(body) = &publish.payload
            && body.len() > MAX_MESSAGE_BYTES
        {
            return Err(QueueError::Invalid(format!(
                "the message is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
                body.len()
            )));
        }
        if publish.delay > MAX_DELAY {
            return Err(QueueError::Invalid(format!(
                "a delay may be at most {} hours",
                MAX_DELAY.as_secs() / 3600
            )));
        }
        if let Some(key) = &publish.dedupe_key
            && (key.is_empty() || key.len() > MAX_DEDUPE_KEY_BYTES)
        {
            return Err(QueueError::Invalid(format!(
                "a dedupe key must have 1 to {MAX_DEDUPE_KEY_BYTES} bytes"
            )));
        }
        Ok(())
    }

    /// The writes that put a new message on `stream`, to commit together with others (the
    /// object or key-value write that caused the event), and the message's id. A dedupe key
    /// adds a condition: the batch fails if the key was seen.
    pub fn event_ops(
        &self,
        stream: &str,
        publish: Publish,
    ) -> Result<(String, Vec<BatchOp>), QueueError> {
        check_stream(stream)?;
        Self::check(&publish)?;
        let id = new_id()?;
        let now = now_ms();
        let due = now.saturating_add(millis(publish.delay));
        let expires_at_ms = match (&publish.payload, publish.expires_at_ms) {
            (_, Some(at)) => Some(at),
            (Payload::Message(_), None) => Some(due.saturating_add(millis(RETENTION))),
            _ => None,
        };
        let message = Message {
            id: id.clone(),
            stream: stream.to_string(),
            payload: publish.payload,
            published_at_ms: now,
            hop: publish.hop,
            order_key: publish.order_key,
            attempts: Vec::new(),
            dead: None,
            expires_at_ms,
        };
        let mut batch = Batch::new();
        if let Some(key) = &publish.dedupe_key {
            let key = dedupe_key(stream, key);
            batch = batch
                .check(&self.store, &key, Condition::Absent)
                .put_expiring(&self.store, &key, id.clone().into_bytes(), DEDUPE_WINDOW);
        }
        if let Some(order) = &message.order_key {
            let key = format!("{}{id}", order_prefix(stream, order));
            batch = batch.put(&self.store, &key, Vec::new());
        }
        batch = batch
            .put(&self.store, &message_key(stream, &id), message.encode()?)
            .put(&self.store, &ready_key(stream, due, &id), b"0".to_vec());
        Ok((id, batch.ops))
    }

    /// Publishes to `stream`; returns once the message is durable.
    pub async fn publish(&self, stream: &str, publish: Publish) -> Result<Published, QueueError> {
        let dedupe = publish
            .dedupe_key
            .as_deref()
            .map(|key| dedupe_key(stream, key));
        if let Some(key) = &dedupe
            && let Some(first) = self.kv.get(&self.store, key).await?
        {
            return Ok(Published {
                id: String::from_utf8_lossy(&first).into_owned(),
                duplicate: true,
            });
        }
        let (id, ops) = self.event_ops(stream, publish)?;
        if self.kv.apply(Batch { ops }).await? {
            self.notify_published();
            return Ok(Published {
                id,
                duplicate: false,
            });
        }
        // Only a dedupe condition can fail: another publish of the key won the race.
        let first = match &dedupe {
            Some(key) => self.kv.get(&self.store, key).await?,
            None => None,
        };
        match first {
            Some(first) => Ok(Published {
                id: String::from_utf8_lossy(&first).into_owned(),
                duplicate: true,
            }),
            None => Err(QueueError::Storage(
                "the publish lost a race it cannot have".into(),
            )),
        }
    }

    /// Leases up to `max` (at most [`MAX_LEASE_BATCH`]) due messages of `stream` for
    /// `lease`: each is delivered again after that unless acknowledged, retried or
    /// dead-lettered first. Messages held back behind an earlier event of their key are left.
    pub async fn lease(
        &self,
        stream: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        check_stream(stream)?;
        let max = max.min(MAX_LEASE_BATCH);
        let now = now_ms();
        let prefix = format!("r/{stream}/");
        let mut candidates = Vec::new();
        let mut cursor: Option<String> = None;
        // A bounded look past messages held back by their order, so a call stays short.
        let mut looked = 0;
        'pages: while candidates.len() < max && looked < 1000 {
            let page = self
                .kv
                .scan(&self.store, &prefix, cursor.as_deref(), 64)
                .await?;
            for (key, value) in page.entries {
                looked += 1;
                let Some((due, id)) = parse_ready(&key, &prefix) else {
                    continue;
                };
                if due > now {
                    break 'pages;
                }
                let Some(bytes) = self.kv.get(&self.store, &message_key(stream, &id)).await? else {
                    // Acknowledged by a delivery whose lease had run out meanwhile.
                    self.kv
                        .compare_and_delete(&self.store, &key, &value)
                        .await?;
                    continue;
                };
                let Ok(message) = Message::decode(&bytes) else {
                    // Unreadable: taken out of delivery (its record stays for inspection),
                    // rather than stopping the stream behind it.
                    self.kv
                        .compare_and_delete(&self.store, &key, &value)
                        .await?;
                    continue;
                };
                let head = match &message.order_key {
                    None => None,
                    Some(order) => {
                        if !self.is_first_of_its_key(stream, order, &id).await? {
                            continue;
                        }
                        let head = head_key(stream, order);
                        match self.kv.get(&self.store, &head).await? {
                            // Another event of its key is in flight.
                            Some(holder) if holder != id.as_bytes() => continue,
                            Some(_) => Some((head, Condition::Equals(id.clone().into_bytes()))),
                            None => Some((head, Condition::Absent)),
                        }
                    }
                };
                let begun: u32 = std::str::from_utf8(&value)
                    .ok()
                    .and_then(|text| text.parse().ok())
                    .unwrap_or(0);
                let attempt = begun.saturating_add(1);
                let leased_key = ready_key(stream, now.saturating_add(millis(lease)), &id);
                candidates.push(Candidate {
                    key,
                    value,
                    leased_key,
                    attempt,
                    message,
                    head,
                });
                if candidates.len() == max {
                    break 'pages;
                }
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let lease_ops = |candidate: &Candidate| {
            let mut batch = Batch::new()
                .check(
                    &self.store,
                    &candidate.key,
                    Condition::Equals(candidate.value.clone()),
                )
                .delete(&self.store, &candidate.key)
                .put(
                    &self.store,
                    &candidate.leased_key,
                    candidate.attempt.to_string().into_bytes(),
                );
            if let Some((head, condition)) = &candidate.head {
                batch = batch.check(&self.store, head, condition.clone()).put(
                    &self.store,
                    head,
                    candidate.message.id.clone().into_bytes(),
                );
            }
            batch.ops
        };
        let all = Batch {
            ops: candidates.iter().flat_map(lease_ops).collect(),
        };
        let won_all = self.kv.apply(all).await?;
        let mut leased = Vec::with_capacity(candidates.len());
        for candidate in candidates {
            // Another process took one of them: take the others one by one.
            let won = won_all
                || self
                    .kv
                    .apply(Batch {
                        ops: lease_ops(&candidate),
                    })
                    .await?;
            if won {
                leased.push(Delivery {
                    ready_value: candidate.attempt.to_string().into_bytes(),
                    message: candidate.message,
                    attempt: candidate.attempt,
                    ready_key: candidate.leased_key,
                });
            }
        }
        Ok(leased)
    }

    async fn is_first_of_its_key(
        &self,
        stream: &str,
        order: &str,
        id: &str,
    ) -> Result<bool, QueueError> {
        let first = self
            .kv
            .list_keys(&self.store, &order_prefix(stream, order), None)
            .await?;
        Ok(first
            .keys
            .first()
            .is_none_or(|key| key.rsplit('/').next() == Some(id)))
    }

    /// The writes that remove a delivered message from its stream, if its lease still holds.
    fn removal(&self, delivery: &Delivery) -> Batch {
        let message = &delivery.message;
        let mut batch = Batch::new()
            .check(
                &self.store,
                &delivery.ready_key,
                Condition::Equals(delivery.ready_value.clone()),
            )
            .delete(&self.store, &delivery.ready_key)
            .delete(&self.store, &message_key(&message.stream, &message.id));
        if let Some(order) = &message.order_key {
            let key = format!("{}{}", order_prefix(&message.stream, order), message.id);
            batch = batch
                .delete(&self.store, &key)
                .delete(&self.store, &head_key(&message.stream, order));
        }
        batch
    }

    /// Removes a handled message from the log. Returns false when its lease had run out: the
    /// message is another delivery's now, which settles it.
    pub async fn ack(&self, delivery: &Delivery) -> Result<bool, QueueError> {
        Ok(self.kv.apply(self.removal(delivery)).await?)
    }

    /// Records a failed delivery and makes the message due again after `delay`. Returns false
    /// when the lease had already run out (the message is someone else's now).
    pub async fn retry(
        &self,
        delivery: &Delivery,
        error: &str,
        delay: Duration,
    ) -> Result<bool, QueueError> {
        let message = with_attempt(&delivery.message, error, now_ms());
        let due = now_ms().saturating_add(millis(delay));
        let batch = Batch::new()
            .check(
                &self.store,
                &delivery.ready_key,
                Condition::Equals(delivery.ready_value.clone()),
            )
            .delete(&self.store, &delivery.ready_key)
            .put(
                &self.store,
                &ready_key(&message.stream, due, &message.id),
                delivery.ready_value.clone(),
            )
            .put(
                &self.store,
                &message_key(&message.stream, &message.id),
                message.encode()?,
            );
        Ok(self.kv.apply(batch).await?)
    }

    /// Gives a leased message back undelivered (the host is stopping): due now, and this
    /// delivery does not count as an attempt.
    pub async fn release(&self, delivery: &Delivery) -> Result<(), QueueError> {
        let message = &delivery.message;
        let batch = Batch::new()
            .check(
                &self.store,
                &delivery.ready_key,
                Condition::Equals(delivery.ready_value.clone()),
            )
            .delete(&self.store, &delivery.ready_key)
            .put(
                &self.store,
                &ready_key(&message.stream, now_ms(), &message.id),
                delivery.attempt.saturating_sub(1).to_string().into_bytes(),
            );
        self.kv.apply(batch).await?;
        Ok(())
    }

    /// Moves a message to the `dead_letter` queue, with `error` as its last attempt's (when
    /// it ran) and `reason` as why it stopped; nothing when its lease had run out (another
    /// delivery has it now).
    pub async fn dead_letter(
        &self,
        delivery: &Delivery,
        error: Option<&str>,
        reason: &str,
        dead_letter: &str,
    ) -> Result<(), QueueError> {
        check_stream(dead_letter)?;
        let now = now_ms();
        let mut message = match error {
            Some(error) => with_attempt(&delivery.message, error, now),
            None => delivery.message.clone(),
        };
        message.dead = Some(Dead {
            from: message.stream.clone(),
            reason: reason.to_string(),
            at_ms: now,
        });
        message.stream = dead_letter.to_string();
        message.order_key = None;
        message.expires_at_ms = None;
        let batch = self
            .removal(delivery)
            .put(
                &self.store,
                &message_key(dead_letter, &message.id),
                message.encode()?,
            )
            .put(
                &self.store,
                &ready_key(dead_letter, now, &message.id),
                b"0".to_vec(),
            );
        self.kv.apply(batch).await?;
        Ok(())
    }

    /// The message `id` of `stream`, if it is there.
    pub async fn get(&self, stream: &str, id: &str) -> Result<Option<Message>, QueueError> {
        self.kv
            .get(&self.store, &message_key(stream, id))
            .await?
            .map(|bytes| Message::decode(&bytes))
            .transpose()
    }

    /// A page of the messages waiting on `stream` (leased ones too), in id order.
    pub async fn list(
        &self,
        stream: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<MessagePage, QueueError> {
        check_stream(stream)?;
        let prefix = format!("m/{stream}/");
        let cursor = cursor.map(|id| message_key(stream, id));
        let page = self
            .kv
            .scan(&self.store, &prefix, cursor.as_deref(), limit)
            .await?;
        let messages = page
            .entries
            .iter()
            .map(|(_, bytes)| Message::decode(bytes))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MessagePage {
            messages,
            cursor: page
                .cursor
                .and_then(|key| key.strip_prefix(&prefix).map(str::to_string)),
        })
    }

    /// Sends dead letter `id` of `dead_letter` back to the stream it died in, as a new first
    /// delivery. Returns false when there is no such dead letter.
    pub async fn replay(&self, dead_letter: &str, id: &str) -> Result<bool, QueueError> {
        check_stream(dead_letter)?;
        let Some(dead) = self.get(dead_letter, id).await? else {
            return Ok(false);
        };
        let Some(Dead { from, at_ms, .. }) = dead.dead.clone() else {
            return Err(QueueError::Invalid(format!(
                "message `{id}` of `{dead_letter}` is not a dead letter"
            )));
        };
        let now = now_ms();
        let message = Message {
            stream: from.clone(),
            attempts: Vec::new(),
            dead: None,
            expires_at_ms: None,
            ..dead
        };
        let batch = Batch::new()
            .check(
                &self.store,
                &message_key(dead_letter, id),
                Condition::Present,
            )
            .delete(&self.store, &message_key(dead_letter, id))
            .delete(&self.store, &ready_key(dead_letter, at_ms, id))
            .put(&self.store, &message_key(&from, id), message.encode()?)
            .put(&self.store, &ready_key(&from, now, id), b"0".to_vec());
        Ok(self.kv.apply(batch).await?)
    }

    /// Removes up to `limit` messages of `stream` (leased ones too, whose deliveries then
    /// find nothing to settle); returns how many. Call again until it returns 0.
    pub async fn purge(&self, stream: &str, limit: usize) -> Result<u64, QueueError> {
        check_stream(stream)?;
        let mut removed = 0;
        let prefix = format!("r/{stream}/");
        while removed < limit as u64 {
            let page_size = (limit as u64 - removed).min(16) as usize;
            let page = self.kv.scan(&self.store, &prefix, None, page_size).await?;
            if page.entries.is_empty() {
                break;
            }
            let mut batch = Batch::new();
            for (key, value) in &page.entries {
                batch = batch
                    .check(&self.store, key, Condition::Equals(value.clone()))
                    .delete(&self.store, key);
                let Some((_, id)) = parse_ready(key, &prefix) else {
                    continue;
                };
                if let Some(bytes) = self.kv.get(&self.store, &message_key(stream, &id)).await? {
                    if let Ok(Message {
                        order_key: Some(order),
                        ..
                    }) = Message::decode(&bytes)
                    {
                        let key = format!("{}{id}", order_prefix(stream, &order));
                        batch = batch
                            .delete(&self.store, &key)
                            .delete(&self.store, &head_key(stream, &order));
                    }
                    batch = batch.delete(&self.store, &message_key(stream, &id));
                    removed += 1;
                }
            }
            // A page whose keys moved meanwhile (a lease, a retry) is read again.
            self.kv.apply(batch).await?;
        }
        // Records left without a ready key (unreadable ones) go too.
        let page = self
            .kv
            .list_keys(&self.store, &format!("m/{stream}/"), None)
            .await?;
        for key in page
            .keys
            .iter()
            .take(limit.saturating_sub(removed as usize))
        {
            if self.kv.delete(&self.store, key).await? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The next moment a message of `stream` is due, if any is waiting (leased ones count at
    /// the end of their lease).
    pub async fn next_due(&self, stream: &str) -> Result<Option<u64>, QueueError> {
        let prefix = format!("r/{stream}/");
        let page = self.kv.list_keys(&self.store, &prefix, None).await?;
        Ok(page
            .keys
            .first()
            .and_then(|key| parse_ready(key, &prefix))
            .map(|(due, _)| due))
    }

    /// The messages waiting on `stream`, up to `cap` counted.
    pub async fn depth(&self, stream: &str, cap: usize) -> Result<usize, QueueError> {
        let prefix = format!("r/{stream}/");
        let mut counted = 0;
        let mut cursor = None;
        loop {
            let page = self
                .kv
                .list_keys(&self.store, &prefix, cursor.as_deref())
                .await?;
            counted += page.keys.len();
            match page.cursor {
                Some(next) if counted < cap => cursor = Some(next),
                _ => return Ok(counted.min(cap)),
            }
        }
    }

    /// Claims schedule `name`'s tick at `tick_ms` for this process, once per host: true when
    /// no process claimed it (or a later tick) before. With `publish`, the run's event
    /// commits with the claim.
    pub async fn claim_tick(
        &self,
        name: &str,
        tick_ms: u64,
        publish: Option<(&str, Publish)>,
    ) -> Result<bool, QueueError> {
        let key = format!("c/{name}");
        let last = self.kv.get(&self.store, &key).await?;
        if let Some(last) = &last
            && decode_tick(last)? >= tick_ms
        {
            return Ok(false);
        }
        let condition = last.map_or(Condition::Absent, Condition::Equals);
        let mut batch = Batch::new().check(&self.store, &key, condition).put(
            &self.store,
            &key,
            tick_ms.to_string().into_bytes(),
        );
        if let Some((stream, publish)) = publish {
            batch.ops.extend(self.event_ops(stream, publish)?.1);
        }
        let claimed = self.kv.apply(batch).await?;
        if claimed {
            self.notify_published();
        }
        Ok(claimed)
    }

    /// The last tick of schedule `name` that a process claimed, if any.
    pub async fn last_tick(&self, name: &str) -> Result<Option<u64>, QueueError> {
        self.kv
            .get(&self.store, &format!("c/{name}"))
            .await?
            .map(|bytes| decode_tick(&bytes))
            .transpose()
    }

    /// Whether `stream` holds an event that is not past its expiry: for a schedule, a run
    /// still going (or waiting to be retried) that the next run must not overlap.
    pub async fn has_live(&self, stream: &str) -> Result<bool, QueueError> {
        let now = now_ms();
        let page = self.list(stream, None, 16).await?;
        // A run not yet tried counts however late it is (it will run); a retry only until its
        // expiry.
        Ok(page.messages.iter().any(|message| {
            message.attempts.is_empty() || message.expires_at_ms.is_none_or(|at| at > now)
        }))
    }

    /// The key-value store under the log, for writes that commit with an event.
    pub fn kv(&self) -> &Arc<dyn KvStore> {
        &self.kv
    }
}

#[cfg(test)]
mod tests;
