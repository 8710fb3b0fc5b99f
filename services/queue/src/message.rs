//! What the log keeps about one event: its payload, where it came from and how its deliveries
//! went. Stored with postcard (bodies stay raw bytes).

use serde::{Deserialize, Serialize};

use crate::QueueError;

/// What an event carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// A message published to a queue: its body.
    Message(Vec<u8>),
    /// A schedule's tick.
    Schedule {
        /// The `[[trigger.cron]]` name.
        name: String,
        /// The tick, in milliseconds since the Unix epoch.
        at_ms: u64,
    },
    /// An object stored.
    ObjectCreated {
        /// Its bucket.
        bucket: String,
        /// Its key.
        key: String,
        /// Its size in bytes.
        size: u64,
        /// Its content type.
        content_type: String,
        /// Its etag.
        etag: String,
    },
    /// An object removed.
    ObjectDeleted {
        /// Its bucket.
        bucket: String,
        /// Its key.
        key: String,
    },
    /// A key-value entry set or deleted.
    KvChanged {
        /// The store.
        store: String,
        /// The key.
        key: String,
        /// True when it was deleted, false when set.
        deleted: bool,
    },
}

/// One delivery that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it began, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What went wrong.
    pub error: String,
}

/// An event in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Its stable id.
    pub id: String,
    /// The stream (queue) it waits in.
    pub stream: String,
    /// What it carries.
    pub payload: Payload,
    /// When it was published, in milliseconds since the Unix epoch.
    pub published_at_ms: u64,
    /// How many handlers' writes led to it: 0 for a write from outside any handler.
    pub hop: u32,
    /// Events with the same order key in one stream are delivered one at a time, in order.
    pub order_key: Option<String>,
    /// The failed deliveries so far, oldest first.
    pub attempts: Vec<Attempt>,
    /// For a dead letter: the stream it died in, and why.
    pub dead: Option<Dead>,
    /// Past this moment (milliseconds since the Unix epoch) it is dead-lettered instead of
    /// delivered: a queue's retention, or a schedule's next tick.
    pub expires_at_ms: Option<u64>,
}

/// Where and why a message was dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dead {
    /// The stream it was consumed from.
    pub from: String,
    /// Why it stopped there.
    pub reason: String,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

impl Message {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, QueueError> {
        postcard::to_allocvec(self).map_err(|e| QueueError::Corrupt(e.to_string()))
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, QueueError> {
        postcard::from_bytes(bytes).map_err(|e| QueueError::Corrupt(e.to_string()))
    }

    /// Bytes of the body, for limits and metering: a message's body, else 0.
    pub fn body_len(&self) -> usize {
        match &self.payload {
            Payload::Message(body) => body.len(),
            _ => 0,
        }
    }
}
