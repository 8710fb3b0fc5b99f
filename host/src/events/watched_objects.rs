//! `[[trigger.object]]`: the object store's change hook. Every stored or removed object that
//! a trigger of the served app version watches commits its event in the same transaction as
//! its metadata, whichever path wrote it (a guest, the storage API, a signed URL).

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use nimbus_kv::BatchOp;
use nimbus_objects::{BucketId, Change, ChangeHook, ObjectError};
use nimbus_queue::{EventLog, Payload, Publish};

use crate::manifest::{Manifest, TriggerSource};

/// One watched bucket, its filters, and the stream its events go to.
struct Watch {
    bucket: String,
    created: bool,
    deleted: bool,
    prefix: String,
    suffix: String,
    stream: String,
}

/// What the served version watches, and its event log.
struct Watching {
    app: String,
    watches: Vec<Watch>,
    log: EventLog,
}

/// The object triggers of whichever app version the host serves.
#[derive(Default)]
pub struct ObjectTriggers {
    current: ArcSwapOption<Watching>,
}

impl ObjectTriggers {
    /// Watches what `manifest`'s object triggers name, publishing to `log`, from now on.
    pub fn watch(&self, manifest: &Manifest, log: &EventLog) {
        let watches: Vec<Watch> = manifest
            .triggers
            .iter()
            .filter_map(|trigger| match &trigger.source {
                TriggerSource::Object {
                    bucket,
                    created,
                    deleted,
                    prefix,
                    suffix,
                } => Some(Watch {
                    bucket: bucket.clone(),
                    created: *created,
                    deleted: *deleted,
                    prefix: prefix.clone(),
                    suffix: suffix.clone(),
                    stream: trigger.stream.clone(),
                }),
                _ => None,
            })
            .collect();
        let watching = (!watches.is_empty()).then(|| {
            Arc::new(Watching {
                app: manifest.app.clone(),
                watches,
                log: log.clone(),
            })
        });
        self.current.store(watching);
    }
}

impl ChangeHook for ObjectTriggers {
    fn cause(&self) -> u32 {
        crate::capabilities::queue::caused_hop()
    }

    fn writes(
        &self,
        bucket: &BucketId,
        change: Change<'_>,
        cause: u32,
    ) -> Result<Vec<BatchOp>, ObjectError> {
        let Some(watching) = self.current.load_full() else {
            return Ok(Vec::new());
        };
        if bucket.app != watching.app {
            return Ok(Vec::new());
        }
        let (key, payload) = match change {
            Change::Stored(meta) => (
                meta.key.as_str(),
                Payload::ObjectCreated {
                    bucket: bucket.bucket.clone(),
                    key: meta.key.clone(),
                    size: meta.size,
                    content_type: meta.content_type.clone(),
                    etag: meta.etag.clone(),
                },
            ),
            Change::Removed(key) => (
                key,
                Payload::ObjectDeleted {
                    bucket: bucket.bucket.clone(),
                    key: key.to_string(),
                },
            ),
        };
        let mut writes = Vec::new();
        for watch in &watching.watches {
            let wanted = match change {
                Change::Stored(_) => watch.created,
                Change::Removed(_) => watch.deleted,
            };
            if !wanted
                || watch.bucket != bucket.bucket
                || !key.starts_with(&watch.prefix)
                || !key.ends_with(&watch.suffix)
            {
                continue;
            }
            let publish = Publish {
                order_key: Some(format!("{}\0{key}", bucket.bucket)),
                hop: cause,
                ..Publish::now(payload.clone())
            };
            let (_, ops) = watching
                .log
                .event_ops(&watch.stream, publish)
                .map_err(|e| ObjectError::Io(std::io::Error::other(e.to_string())))?;
            writes.extend(ops);
        }
        Ok(writes)
    }

    fn committed(&self) {
        if let Some(watching) = self.current.load_full() {
            watching.log.notify_published();
        }
    }
}
