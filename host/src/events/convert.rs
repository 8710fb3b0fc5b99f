//! Events as the log keeps them ([`Payload`]) and as a guest's `event-handler` sees them.

use nimbus_queue::{Message, Payload};

use crate::bindings::event_handler::{
    Event, EventKind, KvChanged, KvOp, ObjectCreated, ObjectDeleted, QueueMessage, Schedule,
};

/// The guest's view of `message`, delivered for the `attempt`th time.
pub fn to_event(message: &Message, attempt: u32) -> Event {
    let kind = match &message.payload {
        Payload::Message(body) => EventKind::QueueMessage(QueueMessage {
            queue: message.stream.clone(),
            id: message.id.clone(),
            body: body.clone(),
            attempt,
            published_at_ms: message.published_at_ms,
        }),
        Payload::Schedule { name, at_ms } => EventKind::Schedule(Schedule {
            name: name.clone(),
            scheduled_at_ms: *at_ms,
        }),
        Payload::ObjectCreated {
            bucket,
            key,
            size,
            content_type,
            etag,
        } => EventKind::ObjectCreated(ObjectCreated {
            bucket: bucket.clone(),
            key: key.clone(),
            size: *size,
            content_type: content_type.clone(),
            etag: etag.clone(),
        }),
        Payload::ObjectDeleted { bucket, key } => EventKind::ObjectDeleted(ObjectDeleted {
            bucket: bucket.clone(),
            key: key.clone(),
        }),
        Payload::KvChanged {
            store,
            key,
            deleted,
        } => EventKind::KvChanged(KvChanged {
            store: store.clone(),
            key: key.clone(),
            op: if *deleted { KvOp::Delete } else { KvOp::Set },
        }),
    };
    Event {
        id: message.id.clone(),
        kind,
    }
}

/// The JSON form of a payload, for `nimbus dlq show` and the admin API: a message's body as
/// text when it is UTF-8, else base64.
pub fn payload_json(payload: &Payload) -> serde_json::Value {
    use base64::Engine as _;
    use serde_json::json;
    match payload {
        Payload::Message(body) => match std::str::from_utf8(body) {
            Ok(text) => json!({"type": "queue-message", "body": text}),
            Err(_) => json!({
                "type": "queue-message",
                "body_base64": base64::engine::general_purpose::STANDARD.encode(body),
            }),
        },
        Payload::Schedule { name, at_ms } => {
            json!({"type": "schedule", "name": name, "scheduled_at_ms": at_ms})
        }
        Payload::ObjectCreated {
            bucket,
            key,
            size,
            content_type,
            etag,
        } => json!({
            "type": "object-created", "bucket": bucket, "key": key, "size": size,
            "content_type": content_type, "etag": etag,
        }),
        Payload::ObjectDeleted { bucket, key } => {
            json!({"type": "object-deleted", "bucket": bucket, "key": key})
        }
        Payload::KvChanged {
            store,
            key,
            deleted,
        } => json!({
            "type": "kv-changed", "store": store, "key": key,
            "op": if *deleted { "delete" } else { "set" },
        }),
    }
}

/// The JSON form of a message, for listings.
pub fn message_json(message: &Message) -> serde_json::Value {
    serde_json::json!({
        "id": message.id,
        "queue": message.stream,
        "published_at_ms": message.published_at_ms,
        "hop": message.hop,
        "payload": payload_json(&message.payload),
        "attempts": message.attempts.iter().map(|a| serde_json::json!({
            "at_ms": a.at_ms, "error": a.error,
        })).collect::<Vec<_>>(),
        "dead": message.dead.as_ref().map(|d| serde_json::json!({
            "from": d.from, "reason": d.reason, "at_ms": d.at_ms,
        })),
    })
}
