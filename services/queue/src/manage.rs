//! Looking at and managing streams: listing, replaying dead letters, purging, counting, and
//! the claims of schedule ticks.

use nimbus_kv::{Batch, Condition};

use crate::keys::*;
use crate::{Dead, Delivery, EventLog, Message, MessagePage, Publish, QueueError, now_ms};

impl EventLog {
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
        // An unreadable record is left out rather than hiding every other one.
        let messages = page
            .entries
            .iter()
            .filter_map(|(_, bytes)| Message::decode(bytes).ok())
            .collect();
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
            // Up to five operations each: within one batch.
            let page_size = (limit as u64 - removed).min(12) as usize;
            let page = self.kv.scan(&self.store, &prefix, None, page_size).await?;
            if page.entries.is_empty() {
                break;
            }
            let mut batch = Batch::new();
            let mut found = 0;
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
                    found += 1;
                }
            }
            // A page whose keys moved meanwhile (a lease, a retry) is read again.
            if self.kv.apply(batch).await? {
                removed += found;
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

    /// Dead-letters up to `limit` messages of `stream` that outlived their expiry without
    /// being delivered (a queue nothing consumes), into `dead_letter`; returns how many. The
    /// messages of a consumed stream are settled by their deliveries instead.
    pub async fn expire(
        &self,
        stream: &str,
        dead_letter: &str,
        limit: usize,
    ) -> Result<usize, QueueError> {
        check_stream(stream)?;
        let now = now_ms();
        let prefix = format!("r/{stream}/");
        let mut cursor: Option<String> = None;
        let mut expired = 0;
        let mut looked = 0;
        while expired < limit && looked < 10 * limit {
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
                    return Ok(expired);
                }
                let Some(Ok(message)) = self
                    .kv
                    .get(&self.store, &message_key(stream, &id))
                    .await?
                    .map(|bytes| Message::decode(&bytes))
                else {
                    continue;
                };
                if message.expires_at_ms.is_none_or(|at| at > now) {
                    continue;
                }
                let waiting = Delivery {
                    message,
                    attempt: 0,
                    ready_key: key,
                    ready_value: value,
                };
                let reason = "nothing handled it within the queue's retention";
                self.dead_letter(&waiting, None, reason, dead_letter)
                    .await?;
                expired += 1;
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(expired)
    }
}
