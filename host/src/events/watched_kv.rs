//! `[[trigger.kv]]`: the app's key-value backend, wrapped so that every write to a watched key
//! commits a `kv-changed` event in the same transaction. A delete of an absent key and a
//! failed compare-and-swap change nothing, so they cause no event.

use std::sync::Arc;

use nimbus_kv::{
    Batch, BatchOp, Condition, EntryPage, KeyPage, KvError, KvStore, SnapshotVisitor, StoreId,
};
use nimbus_queue::{EventLog, Payload, Publish, QueueError};

use crate::manifest::{Manifest, TriggerSource};

/// One watched store and key prefix, and the stream its changes go to.
struct Watch {
    store: String,
    prefix: String,
    stream: String,
}

/// A key-value backend whose writes to watched keys also publish their events.
pub struct WatchedKv {
    inner: Arc<dyn KvStore>,
    app: String,
    watches: Vec<Watch>,
    log: EventLog,
}

impl WatchedKv {
    /// `inner`, watched by `manifest`'s key-value triggers; `inner` itself when there are none.
    pub fn wrap(inner: Arc<dyn KvStore>, manifest: &Manifest, log: EventLog) -> Arc<dyn KvStore> {
        let watches: Vec<Watch> = manifest
            .triggers
            .iter()
            .filter_map(|trigger| match &trigger.source {
                TriggerSource::Kv { store, prefix } => Some(Watch {
                    store: store.clone(),
                    prefix: prefix.clone(),
                    stream: trigger.stream.clone(),
                }),
                _ => None,
            })
            .collect();
        if watches.is_empty() {
            return inner;
        }
        Arc::new(Self {
            inner,
            app: manifest.app.clone(),
            watches,
            log,
        })
    }

    fn watchers<'a>(&'a self, store: &'a StoreId, key: &'a str) -> impl Iterator<Item = &'a Watch> {
        self.watches.iter().filter(move |watch| {
            store.app == self.app && store.store == watch.store && key.starts_with(&watch.prefix)
        })
    }

    fn watched(&self, store: &StoreId, key: &str) -> bool {
        self.watchers(store, key).next().is_some()
    }

    /// The event writes for a change of `key` in `store`.
    fn event_ops(
        &self,
        store: &StoreId,
        key: &str,
        deleted: bool,
    ) -> Result<Vec<BatchOp>, KvError> {
        let mut ops = Vec::new();
        for watch in self.watchers(store, key) {
            let publish = Publish {
                order_key: Some(format!("{}\0{key}", store.store)),
                hop: crate::capabilities::queue::caused_hop(),
                ..Publish::now(Payload::KvChanged {
                    store: store.store.clone(),
                    key: key.to_string(),
                    deleted,
                })
            };
            let (_, event) = self
                .log
                .event_ops(&watch.stream, publish)
                .map_err(kv_error)?;
            ops.extend(event);
        }
        Ok(ops)
    }

    /// `batch` with the events of its writes to watched keys.
    fn with_events(&self, batch: Batch) -> Result<(Batch, bool), KvError> {
        let mut events = Vec::new();
        for op in &batch.ops {
            match op {
                BatchOp::Put { store, key, .. } => {
                    events.extend(self.event_ops(store, key, false)?)
                }
                BatchOp::Delete { store, key } => events.extend(self.event_ops(store, key, true)?),
                BatchOp::Check { .. } => {}
            }
        }
        let any = !events.is_empty();
        let mut batch = batch;
        batch.ops.extend(events);
        Ok((batch, any))
    }

    async fn apply_with_events(&self, batch: Batch) -> Result<bool, KvError> {
        let (batch, any) = self.with_events(batch)?;
        let applied = self.inner.apply(batch).await?;
        if applied && any {
            self.log.notify_published();
        }
        Ok(applied)
    }
}

fn kv_error(error: QueueError) -> KvError {
    match error {
        QueueError::Invalid(why) => KvError::Invalid(why),
        QueueError::Storage(why) | QueueError::Corrupt(why) => KvError::Storage(why),
    }
}

#[async_trait::async_trait]
impl KvStore for WatchedKv {
    async fn get(&self, store: &StoreId, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.inner.get(store, key).await
    }

    fn inline_reads(&self) -> Option<&dyn nimbus_kv::InlineReads> {
        self.inner.inline_reads()
    }

    async fn delete(&self, store: &StoreId, key: &str) -> Result<bool, KvError> {
        if !self.watched(store, key) {
            return self.inner.delete(store, key).await;
        }
        // Only a delete of a value that is there is a change.
        let batch = Batch::new()
            .check(store, key, Condition::Present)
            .delete(store, key);
        self.apply_with_events(batch).await
    }

    async fn list_keys(
        &self,
        store: &StoreId,
        prefix: &str,
        cursor: Option<&str>,
    ) -> Result<KeyPage, KvError> {
        self.inner.list_keys(store, prefix, cursor).await
    }

    async fn scan(
        &self,
        store: &StoreId,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<EntryPage, KvError> {
        self.inner.scan(store, prefix, cursor, limit).await
    }

    async fn increment(&self, store: &StoreId, key: &str, delta: i64) -> Result<i64, KvError> {
        if !self.watched(store, key) {
            return self.inner.increment(store, key, delta).await;
        }
        // A compare-and-swap loop, so that the new value and its event commit together.
        loop {
            let current = self.inner.get(store, key).await?;
            let next = nimbus_kv::add_to_counter(current.as_deref(), delta)?;
            let condition = current.map_or(Condition::Absent, Condition::Equals);
            let batch = Batch::new().check(store, key, condition).put(
                store,
                key,
                next.to_string().into_bytes(),
            );
            if self.apply_with_events(batch).await? {
                return Ok(next);
            }
        }
    }

    async fn apply(&self, batch: Batch) -> Result<bool, KvError> {
        self.apply_with_events(batch).await
    }

    async fn snapshot(
        &self,
        store: &StoreId,
        visit: &mut SnapshotVisitor<'_>,
    ) -> Result<(), KvError> {
        self.inner.snapshot(store, visit).await
    }

    async fn purge_expired(&self, limit: usize) -> Result<usize, KvError> {
        self.inner.purge_expired(limit).await
    }

    async fn backup(&self, to: &std::path::Path) -> Result<(), KvError> {
        self.inner.backup(to).await
    }
}
