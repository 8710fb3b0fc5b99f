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
//!   one process wins it, and a process that dies mid-event loses it when the lease ends. An
//!   event held back behind an earlier one of its key is *parked* (DUE = all `f`s), out of the
//!   way of the due ones, until that one is settled;
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

mod delivery;
mod error;
mod ids;
mod keys;
mod manage;
mod message;
mod publish;

use std::sync::Arc;
use std::time::Duration;

use nimbus_kv::{KvStore, StoreId};
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
    pub(crate) ready_key: String,
    pub(crate) ready_value: Vec<u8>,
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
    pub(crate) kv: Arc<dyn KvStore>,
    pub(crate) store: StoreId,
    published: Arc<Notify>,
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

    /// The key-value store under the log, for writes that commit with an event.
    pub fn kv(&self) -> &Arc<dyn KvStore> {
        &self.kv
    }
}

#[cfg(test)]
mod tests;
