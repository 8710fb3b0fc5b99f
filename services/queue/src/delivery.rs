//! Delivery: leasing due events, and settling each by its outcome (handled, retried,
//! given back, dead-lettered). Every settlement checks that its lease still holds.

use std::time::Duration;

use nimbus_kv::{Batch, Condition};

use crate::keys::*;
use crate::{Dead, Delivery, EventLog, MAX_LEASE_BATCH, Message, QueueError, now_ms};

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

impl EventLog {
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
                        let head = head_key(stream, order);
                        match self.kv.get(&self.store, &head).await? {
                            // It holds its key already (its retry, or a lease that ran out):
                            // it goes on, whatever committed before it meanwhile.
                            Some(holder) if holder == id.as_bytes() => {
                                Some((head, Condition::Equals(id.clone().into_bytes())))
                            }
                            // Another event of its key is in flight.
                            Some(_) => {
                                self.park(stream, &key, &value, &id).await?;
                                continue;
                            }
                            None if !self.is_first_of_its_key(stream, order, &id).await? => {
                                self.park(stream, &key, &value, &id).await?;
                                continue;
                            }
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
        Ok(self
            .first_of_its_key(stream, order)
            .await?
            .is_none_or(|first| first == id))
    }

    /// The id of the earliest event of `order`'s key still in `stream`.
    async fn first_of_its_key(
        &self,
        stream: &str,
        order: &str,
    ) -> Result<Option<String>, QueueError> {
        let first = self
            .kv
            .scan(&self.store, &order_prefix(stream, order), None, 1)
            .await?;
        Ok(first
            .entries
            .first()
            .and_then(|(key, _)| key.rsplit('/').next())
            .map(str::to_string))
    }

    /// The writes that remove a delivered message from its stream, if its lease still holds.
    pub(crate) fn removal(&self, delivery: &Delivery) -> Batch {
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
        let removed = self.kv.apply(self.removal(delivery)).await?;
        if removed {
            self.unpark_next(&delivery.message).await?;
        }
        Ok(removed)
    }

    /// Moves a held-back message out of the due range (see [`PARKED`]).
    async fn park(
        &self,
        stream: &str,
        key: &str,
        value: &[u8],
        id: &str,
    ) -> Result<(), QueueError> {
        let batch = Batch::new()
            .check(&self.store, key, Condition::Equals(value.to_vec()))
            .delete(&self.store, key)
            .put(&self.store, &ready_key(stream, PARKED, id), value.to_vec());
        self.kv.apply(batch).await?;
        Ok(())
    }

    /// Makes the message parked under `id`, if it is, due now.
    async fn unpark(&self, stream: &str, id: &str) -> Result<bool, QueueError> {
        let parked = ready_key(stream, PARKED, id);
        let Some(value) = self.kv.get(&self.store, &parked).await? else {
            return Ok(false);
        };
        let batch = Batch::new()
            .check(&self.store, &parked, Condition::Equals(value.clone()))
            .delete(&self.store, &parked)
            .put(&self.store, &ready_key(stream, now_ms(), id), value);
        Ok(self.kv.apply(batch).await?)
    }

    /// After `settled` left its stream: the next event of its key, if parked, is due now.
    async fn unpark_next(&self, settled: &Message) -> Result<(), QueueError> {
        let Some(order) = &settled.order_key else {
            return Ok(());
        };
        let chain = self
            .kv
            .list_keys(&self.store, &order_prefix(&settled.stream, order), None)
            .await?;
        if let Some(next) = chain.keys.first().and_then(|key| key.rsplit('/').next()) {
            self.unpark(&settled.stream, next).await?;
        }
        Ok(())
    }

    /// Looks at up to `limit` parked messages of `stream` after `cursor`, and makes due again
    /// those whose key is theirs to take: nothing else in flight and nothing earlier waiting
    /// (their settling event's unpark missed them), or held by themselves. Marks and order
    /// entries left by events whose records are gone are cleared on the way, so that no key
    /// stays blocked. Returns how many it made due and where to look next (`None`: start over).
    pub async fn unpark_stranded(
        &self,
        stream: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(usize, Option<String>), QueueError> {
        check_stream(stream)?;
        let prefix = format!("r/{stream}/{PARKED:016x}/");
        let page = self.kv.list_keys(&self.store, &prefix, cursor).await?;
        let mut unparked = 0;
        let mut last = None;
        for key in page.keys.iter().take(limit) {
            last = Some(key.clone());
            let Some(id) = key.strip_prefix(&prefix) else {
                continue;
            };
            let message = match self.kv.get(&self.store, &message_key(stream, id)).await? {
                Some(bytes) => Message::decode(&bytes).ok(),
                None => None,
            };
            let Some(Message {
                order_key: Some(order),
                ..
            }) = message
            else {
                // Its record is gone (or unreadable): so is the point of waiting.
                self.kv.delete(&self.store, key).await?;
                continue;
            };
            let head = head_key(stream, &order);
            if let Some(holder) = self.kv.get(&self.store, &head).await? {
                let holder_id = String::from_utf8_lossy(&holder).into_owned();
                if holder_id != id && self.get_raw(stream, &holder_id).await?.is_none() {
                    // The event that held the key is gone without letting go of it.
                    self.kv
                        .compare_and_delete(&self.store, &head, &holder)
                        .await?;
                } else if holder_id != id {
                    continue;
                }
            }
            if let Some(first) = self.first_of_its_key(stream, &order).await?
                && first != id
                && self.get_raw(stream, &first).await?.is_none()
            {
                // An order entry whose event is gone: it would hold the key forever.
                let ghost = format!("{}{first}", order_prefix(stream, &order));
                self.kv.delete(&self.store, &ghost).await?;
            }
            let holder = self.kv.get(&self.store, &head).await?;
            let free = match holder {
                Some(holder) => holder == id.as_bytes(),
                None => self.is_first_of_its_key(stream, &order, id).await?,
            };
            if free && self.unpark(stream, id).await? {
                unparked += 1;
            }
        }
        let next = if page.keys.len() > limit || page.cursor.is_some() {
            last
        } else {
            None
        };
        Ok((unparked, next))
    }

    /// The stored bytes of message `id` of `stream`, readable or not.
    async fn get_raw(&self, stream: &str, id: &str) -> Result<Option<Vec<u8>>, QueueError> {
        Ok(self.kv.get(&self.store, &message_key(stream, id)).await?)
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
        let batch = self.moved(delivery, due, delivery.ready_value.clone()).put(
            &self.store,
            &message_key(&message.stream, &message.id),
            message.encode()?,
        );
        Ok(self.kv.apply(batch).await?)
    }

    /// Gives a leased message back undelivered (the host is stopping): due now, and this
    /// delivery does not count as an attempt.
    pub async fn release(&self, delivery: &Delivery) -> Result<(), QueueError> {
        let begun = delivery.attempt.saturating_sub(1).to_string().into_bytes();
        self.kv.apply(self.moved(delivery, now_ms(), begun)).await?;
        Ok(())
    }

    /// The writes that move a leased message's ready key to `due`, valued `begun` (the
    /// deliveries begun), if its lease still holds.
    fn moved(&self, delivery: &Delivery, due: u64, begun: Vec<u8>) -> Batch {
        let message = &delivery.message;
        Batch::new()
            .check(
                &self.store,
                &delivery.ready_key,
                Condition::Equals(delivery.ready_value.clone()),
            )
            .delete(&self.store, &delivery.ready_key)
            .put(
                &self.store,
                &ready_key(&message.stream, due, &message.id),
                begun,
            )
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
        if self.kv.apply(batch).await? {
            self.unpark_next(&delivery.message).await?;
        }
        Ok(())
    }
}
