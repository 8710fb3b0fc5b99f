//! Publishing: a message, or the writes of an event that commit with the write that caused
//! it.

use nimbus_kv::{Batch, BatchOp, Condition};

use crate::keys::*;
use crate::{
    DEDUPE_WINDOW, EventLog, MAX_DEDUPE_KEY_BYTES, MAX_DELAY, MAX_MESSAGE_BYTES, Message, Payload,
    Publish, Published, QueueError, RETENTION, new_id, now_ms,
};

impl EventLog {
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
}
