//! The todo example's event handler. Reminders published to the queue `reminders` (by
//! `POST /todos/:id/remind`) land in the user's outbox in the store `todos`, once per message
//! however often it is delivered (the outbox entry is keyed by the message id); the schedule
//! `cleanup` removes outbox entries older than a day.

use std::time::{SystemTime, UNIX_EPOCH};

use nimbus_sdk::Context;
use nimbus_sdk::events::{Event, EventKind};
use nimbus_sdk::kv::Store;
use serde_json::{Value, json};

const STORE: &str = "todos";
/// How long a sent reminder stays in the outbox.
const KEEP_MS: u64 = 24 * 3600 * 1000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn remind(id: &str, body: &[u8]) -> Result<(), String> {
    let reminder: Value =
        serde_json::from_slice(body).map_err(|e| format!("not a reminder: {e}"))?;
    let user = reminder["user"]
        .as_str()
        .ok_or("a reminder names its user")?;
    let mail = json!({
        "to": user,
        "subject": format!("Reminder: {}", reminder["title"].as_str().unwrap_or("a todo")),
        "todo": reminder["todo"],
        "sentAtMs": now_ms(),
    });
    let store = Store::open(STORE).map_err(|e| format!("open: {e}"))?;
    store
        .set(&format!("outbox:{user}:{id}"), mail.to_string().as_bytes())
        .map_err(|e| format!("write the outbox: {e}"))
}

fn clean_up() -> Result<(), String> {
    let store = Store::open(STORE).map_err(|e| format!("open: {e}"))?;
    let oldest = now_ms().saturating_sub(KEEP_MS);
    let mut cursor = None;
    let mut removed = 0;
    loop {
        let page = store
            .list_entries("outbox:", cursor.as_deref(), 500)
            .map_err(|e| format!("list: {e}"))?;
        for (key, bytes) in &page.entries {
            let sent = serde_json::from_slice::<Value>(bytes)
                .ok()
                .and_then(|mail| mail["sentAtMs"].as_u64())
                .unwrap_or(0);
            if sent < oldest {
                store.delete(key).map_err(|e| format!("delete: {e}"))?;
                removed += 1;
            }
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    println!("cleanup: removed {removed} old reminder(s)");
    Ok(())
}

fn handle(event: Event, _ctx: Context) -> Result<(), String> {
    match event.kind {
        EventKind::QueueMessage(message) => remind(&message.id, &message.body),
        EventKind::Schedule(_) => clean_up(),
        _ => Ok(()),
    }
}

nimbus_sdk::event_component!(handle);
