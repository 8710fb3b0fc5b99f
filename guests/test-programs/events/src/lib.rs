//! Test guest for events: it exports both handlers. Every event it handles is written to the
//! store `log`, which `GET /events/log?PREFIX` reads back, so that tests can see what ran, in
//! which attempt, when and in what order.
//!
//! Queue messages are commands: `noop` does nothing; `loop:QUEUE` publishes itself to QUEUE
//! again (counting in `seq/loop`); `ok:TAG` succeeds; `fail:N:TAG` fails its first N attempts;
//! `sleep:MS:TAG` takes MS milliseconds; `publish:QUEUE:BODY` publishes BODY to QUEUE. Each
//! writes `ran/TAG/ATTEMPT` = the time it began (milliseconds since the Unix epoch). A schedule
//! run writes `cron/NAME/TICK` = its start and counts itself in `seq/runs/NAME/TICK`; one named `slow...` takes 2.5 s and also writes
//! `cron-end/NAME/TICK`. Key-value changes of the store `watched` are logged in order as
//! `kv/SEQ` = `OP KEY`; object events as `obj/SEQ` = `KIND BUCKET KEY SIZE` (and a
//! created object's start as `obj-at/BUCKET/KEY`).
//!
//! HTTP: `PUT` / `DELETE /events/watched/KEY` writes the store `watched`; `POST
//! /events/publish/QUEUE` publishes the body; `GET /events/log?PREFIX` lists the log; `POST
//! /events/count/NAME` counts its calls (for idempotency keys).

wit_bindgen::generate!({
    world: "app",
    path: "../../../wit",
    generate_all,
});

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use exports::nimbus::platform::event_handler::{self, Event, EventKind, KvOp};
use exports::nimbus::platform::http_handler::{self, Request, Response};
use nimbus::platform::key_value::Store;
use nimbus::platform::queue::{self, PublishOptions};
use nimbus::platform::types::Context;

struct Events;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn log(key: &str, value: &str) -> Result<(), String> {
    let store = Store::open("log").map_err(|e| format!("open log: {e:?}"))?;
    store
        .set(key, value.as_bytes())
        .map_err(|e| format!("write log: {e:?}"))
}

fn next_seq(name: &str) -> Result<i64, String> {
    let store = Store::open("log").map_err(|e| format!("open log: {e:?}"))?;
    store
        .increment(&format!("seq/{name}"), 1)
        .map_err(|e| format!("count: {e:?}"))
}

fn handle_message(body: &str, attempt: u32) -> Result<(), String> {
    let started = now_ms().to_string();
    let mut parts = body.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("noop"), None, None) => Ok(()),
        // Publishes itself again: a loop the host must stop.
        (Some("loop"), Some(queue), None) => {
            next_seq("loop")?;
            publish(queue, body)
        }
        (Some("ok"), Some(tag), None) => log(&format!("ran/{tag}/{attempt}"), &started),
        (Some("fail"), Some(times), Some(tag)) => {
            log(&format!("ran/{tag}/{attempt}"), &started)?;
            let times: u32 = times.parse().unwrap_or(u32::MAX);
            if attempt <= times {
                Err(format!("failing attempt {attempt} of {tag} on purpose"))
            } else {
                Ok(())
            }
        }
        (Some("sleep"), Some(ms), Some(tag)) => {
            log(&format!("ran/{tag}/{attempt}"), &started)?;
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
            log(&format!("done/{tag}/{attempt}"), &now_ms().to_string())
        }
        (Some("publish"), Some(queue), Some(body)) => {
            log(
                &format!("ran/publish-{queue}/{attempt}-{}", now_ms()),
                &started,
            )?;
            publish(queue, body)
        }
        _ => log(&format!("ran/{body}/{attempt}"), &started),
    }
}

impl event_handler::Guest for Events {
    fn handle(ev: Event, ctx: Context) -> Result<(), String> {
        match ev.kind {
            EventKind::QueueMessage(message) => {
                if message.attempt != ctx.attempt {
                    return Err("the message and the context disagree on the attempt".into());
                }
                handle_message(&String::from_utf8_lossy(&message.body), message.attempt)
            }
            EventKind::Schedule(run) => {
                let key = format!("{}/{}", run.name, run.scheduled_at_ms);
                log(&format!("cron/{key}"), &now_ms().to_string())?;
                next_seq(&format!("runs/{key}"))?;
                if run.name.starts_with("slow") {
                    std::thread::sleep(Duration::from_millis(2500));
                    log(&format!("cron-end/{key}"), &now_ms().to_string())?;
                }
                Ok(())
            }
            EventKind::KvChanged(change) => {
                let op = match change.op {
                    KvOp::Set => "set",
                    KvOp::Delete => "delete",
                };
                let seq = next_seq("kv")?;
                log(&format!("kv/{seq:06}"), &format!("{op} {}", change.key))
            }
            EventKind::ObjectCreated(object) => {
                log(
                    &format!("obj-at/{}/{}", object.bucket, object.key),
                    &now_ms().to_string(),
                )?;
                let seq = next_seq("obj")?;
                log(
                    &format!("obj/{seq:06}"),
                    &format!("created {} {} {}", object.bucket, object.key, object.size),
                )
            }
            EventKind::ObjectDeleted(object) => {
                let seq = next_seq("obj")?;
                log(
                    &format!("obj/{seq:06}"),
                    &format!("deleted {} {} 0", object.bucket, object.key),
                )
            }
        }
    }
}

fn json(status: u16, body: serde_json::Value) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn serve(request: &Request) -> Result<Response, String> {
    // The first segment is where the app mounts it (`/events/...`).
    let path = request.path[1..]
        .find('/')
        .map_or("", |at| &request.path[at + 1..]);
    if let Some(key) = path.strip_prefix("/watched/") {
        let store = Store::open("watched").map_err(|e| format!("open: {e:?}"))?;
        return match request.method.as_str() {
            "PUT" => store
                .set(key, &request.body)
                .map(|()| json(200, serde_json::json!({"set": key})))
                .map_err(|e| format!("set: {e:?}")),
            "DELETE" => store
                .delete(key)
                .map(|existed| json(200, serde_json::json!({"deleted": existed})))
                .map_err(|e| format!("delete: {e:?}")),
            _ => Ok(json(405, serde_json::json!({"error": "PUT or DELETE"}))),
        };
    }
    if let Some(name) = path.strip_prefix("/publish/") {
        return match queue::publish(
            name,
            &request.body,
            &PublishOptions {
                delay_ms: None,
                dedupe_key: None,
            },
        ) {
            Ok(id) => Ok(json(202, serde_json::json!({"id": id}))),
            Err(error) => Ok(json(
                403,
                serde_json::json!({"error": format!("{error:?}")}),
            )),
        };
    }
    if let Some(name) = path.strip_prefix("/count/") {
        // Counts its calls: how tests see whether a request ran or was replayed. `?sleep=MS`
        // takes that long first; `?fail` answers 500 after counting.
        if let Some(ms) = request.query.strip_prefix("sleep=") {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
        }
        let count = next_seq(&format!("count/{name}"))?;
        let status = if request.query == "fail" { 500 } else { 201 };
        return Ok(Response {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-counted".into(), count.to_string()),
            ],
            body:
                serde_json::json!({"count": count, "body": String::from_utf8_lossy(&request.body)})
                    .to_string()
                    .into_bytes(),
        });
    }
    if path == "/log" {
        let store = Store::open("log").map_err(|e| format!("open: {e:?}"))?;
        let mut entries = serde_json::Map::new();
        let mut cursor = None;
        loop {
            let page = store
                .list_entries(&request.query, cursor.as_deref(), 1000)
                .map_err(|e| format!("list: {e:?}"))?;
            for (key, value) in page.entries {
                entries.insert(key, String::from_utf8_lossy(&value).into_owned().into());
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        return Ok(json(200, serde_json::Value::Object(entries)));
    }
    Ok(json(404, serde_json::json!({"error": "no such path"})))
}

impl http_handler::Guest for Events {
    fn handle(request: Request, _ctx: Context) -> Response {
        serve(&request).unwrap_or_else(|error| json(500, serde_json::json!({"error": error})))
    }
}

export!(Events);

/// Publishes `body` to `queue` at once.
fn publish(queue: &str, body: &str) -> Result<(), String> {
    queue::publish(
        queue,
        body.as_bytes(),
        &PublishOptions {
            delay_ms: None,
            dedupe_key: None,
        },
    )
    .map(drop)
    .map_err(|e| format!("publish: {e:?}"))
}
