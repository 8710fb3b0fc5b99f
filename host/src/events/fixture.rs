//! `nimbus invoke COMPONENT --event event.json`: one local invocation of an event handler, as
//! `sam local invoke -e` does: the event is read from a JSON fixture, handed to the invoker
//! (nothing goes through the event log), and its result printed.
//!
//! ```json
//! {"type": "queue-message", "queue": "emails", "body": "hello", "attempt": 1}
//! {"type": "schedule", "name": "nightly"}
//! {"type": "object-created", "bucket": "uploads", "key": "a.png", "size": 10, "content_type": "image/png", "etag": "e"}
//! {"type": "object-deleted", "bucket": "uploads", "key": "a.png"}
//! {"type": "kv-changed", "store": "todos", "key": "k", "op": "set"}
//! ```
//!
//! A queue message's `body` may be any JSON value (sent as its JSON text) or a string (as is).

use std::path::Path;

use anyhow::Context as _;
use nimbus_queue::{Message, Payload, new_id, now_ms};
use serde::Deserialize;

use crate::host::Host;
use crate::runtime::{Meta, Output, Trigger};

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
enum Fixture {
    QueueMessage {
        queue: String,
        #[serde(default)]
        body: serde_json::Value,
        #[serde(default = "first")]
        attempt: u32,
        id: Option<String>,
    },
    Schedule {
        name: String,
        scheduled_at_ms: Option<u64>,
        id: Option<String>,
    },
    ObjectCreated {
        bucket: String,
        key: String,
        #[serde(default)]
        size: u64,
        #[serde(default = "octets")]
        content_type: String,
        #[serde(default)]
        etag: String,
        id: Option<String>,
    },
    ObjectDeleted {
        bucket: String,
        key: String,
        id: Option<String>,
    },
    KvChanged {
        store: String,
        key: String,
        op: KvOp,
        id: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum KvOp {
    Set,
    Delete,
}

fn first() -> u32 {
    1
}

fn octets() -> String {
    "application/octet-stream".into()
}

/// Invokes `component`'s event handler with the event fixture at `fixture`; the result as
/// pretty JSON: `{"result": "ok"}` or `{"result": "error", "error": ...}`.
pub async fn invoke(host: &Host, component: &str, fixture: &Path) -> anyhow::Result<String> {
    let app = host.current();
    let text = std::fs::read_to_string(fixture)
        .with_context(|| format!("cannot read {}", fixture.display()))?;
    let fixture: Fixture = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not an event fixture (`type` is queue-message, schedule, object-created, object-deleted or kv-changed)",
            fixture.display()
        )
    })?;
    let loaded = app
        .components
        .iter()
        .find(|c| c.spec.name == component)
        .with_context(|| format!("no component `{component}`"))?;
    let (stream, id, attempt, payload) = match fixture {
        Fixture::QueueMessage {
            queue,
            body,
            attempt,
            id,
        } => {
            let body = match body {
                serde_json::Value::String(text) => text.into_bytes(),
                serde_json::Value::Null => Vec::new(),
                value => value.to_string().into_bytes(),
            };
            (queue, id, attempt, Payload::Message(body))
        }
        Fixture::Schedule {
            name,
            scheduled_at_ms,
            id,
        } => (
            format!("cron:{name}"),
            id,
            1,
            Payload::Schedule {
                name,
                at_ms: scheduled_at_ms.unwrap_or_else(now_ms),
            },
        ),
        Fixture::ObjectCreated {
            bucket,
            key,
            size,
            content_type,
            etag,
            id,
        } => (
            format!("object:{bucket}"),
            id,
            1,
            Payload::ObjectCreated {
                bucket,
                key,
                size,
                content_type,
                etag,
            },
        ),
        Fixture::ObjectDeleted { bucket, key, id } => (
            format!("object:{bucket}"),
            id,
            1,
            Payload::ObjectDeleted { bucket, key },
        ),
        Fixture::KvChanged { store, key, op, id } => (
            format!("kv:{store}"),
            id,
            1,
            Payload::KvChanged {
                store,
                key,
                deleted: matches!(op, KvOp::Delete),
            },
        ),
    };
    let id = match id {
        Some(id) => id,
        None => new_id()?,
    };
    let message = Message {
        id: id.clone(),
        stream,
        payload,
        published_at_ms: now_ms(),
        hop: 0,
        order_key: None,
        attempts: Vec::new(),
        dead: None,
        expires_at_ms: None,
    };
    let event = super::convert::to_event(&message, attempt);
    let meta = Meta {
        attempt,
        ..Meta::new(format!("{id}-{attempt}"))
    };
    let result = match host
        .runtime
        .invoke(loaded, Trigger::Event(event), meta)
        .await
    {
        Ok(Output::Event(Ok(()))) => serde_json::json!({ "result": "ok" }),
        Ok(Output::Event(Err(error))) => serde_json::json!({ "result": "error", "error": error }),
        Ok(_) => anyhow::bail!("component `{component}` answered like an HTTP handler"),
        Err(error) => serde_json::json!({ "result": "failed", "error": error.to_string() }),
    };
    Ok(serde_json::to_string_pretty(&result)?)
}
