//! The key-value interface of nimbus:platform@0.2.0 as a guest uses it: entries that expire,
//! listings with values, compare-and-delete; from every process of a host.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{AppDir, Server, fresh_connection_client, get_json, process_of, send_json};

const APP: &str = r#"
[app]
name = "kv"

[component.kv]
source = "{kv_swap}"
routes = ["/..."]
key_value = ["big"]
"#;

/// GETs `path` on a fresh connection (so the kernel may hand it to any process) and notes
/// which process answered.
async fn call(server: &Server, served: &mut HashSet<String>, path: &str) -> Value {
    let (status, request_id, body) =
        send_json(fresh_connection_client().get(server.url(path))).await;
    served.insert(process_of(&request_id.unwrap_or_default()));
    assert_eq!(status, 200, "{path}: {body}");
    body
}

#[tokio::test]
async fn entries_expire_list_with_values_and_delete_only_when_unchanged() {
    let app = AppDir::new(APP);
    let server = app.start_processes(2);
    let mut served = HashSet::new();
    call(&server, &mut served, "/set?list/a&1").await;
    call(&server, &mut served, "/set?list/b&2").await;
    call(&server, &mut served, "/set?list/brief&3&1").await;
    call(&server, &mut served, "/set?other&x").await;
    assert_eq!(
        call(&server, &mut served, "/get?list/brief").await["value"],
        "3"
    );
    // Expiry is by the clock: wait for it with a deadline, not a fixed sleep.
    let deadline = Instant::now() + Duration::from_secs(10);
    while call(&server, &mut served, "/get?list/brief").await["value"] != Value::Null {
        assert!(Instant::now() < deadline, "the entry never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = call(&server, &mut served, "/entries?list/&10").await;
    assert_eq!(
        listed,
        json!({ "entries": [["list/a", "1"], ["list/b", "2"]], "cursor": null })
    );
    let first_page = call(&server, &mut served, "/entries?list/&1").await;
    assert_eq!(first_page["entries"], json!([["list/a", "1"]]));
    assert_eq!(first_page["cursor"], "list/a");
    assert_eq!(
        call(&server, &mut served, "/cad?list/a&9").await["deleted"],
        false
    );
    assert_eq!(
        call(&server, &mut served, "/get?list/a").await["value"],
        "1"
    );
    assert_eq!(
        call(&server, &mut served, "/cad?list/a&1").await["deleted"],
        true
    );
    assert_eq!(
        call(&server, &mut served, "/get?list/a").await["value"],
        Value::Null
    );
    assert_eq!(served.len(), 2, "both processes served");
}

#[tokio::test]
async fn a_zero_time_to_live_is_refused_as_invalid() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let (status, _, body) = get_json(&server.url("/set?k&v&0")).await;
    assert_eq!(status, 500, "the guest reports the error it got: {body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("set: Error::Invalid("), "{body}");
    assert!(error.contains("time-to-live"), "{body}");
}

/// A read in the process that owns the store takes a synchronous path, one in a worker goes
/// through the owner; a guest must not tell them apart, errors included.
#[tokio::test]
async fn reads_answer_alike_in_every_process_errors_included() {
    let app = AppDir::new(APP);
    let server = app.start_processes(2);
    let mut served = HashSet::new();
    call(&server, &mut served, "/set?present&yes").await;
    let too_long = "k".repeat(nimbus_kv::MAX_KEY_BYTES + 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut answered = HashSet::new();
    while answered.len() < 2 {
        assert!(Instant::now() < deadline, "only {answered:?} answered");
        assert_eq!(
            call(&server, &mut served, "/get?present").await["value"],
            "yes"
        );
        assert_eq!(
            call(&server, &mut served, "/get?absent").await["value"],
            Value::Null
        );
        let (status, request_id, body) =
            send_json(fresh_connection_client().get(server.url(&format!("/get?{too_long}")))).await;
        assert_eq!(status, 500, "the guest reports the error it got: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.starts_with("get: Error::Invalid("), "{body}");
        answered.insert(process_of(&request_id.unwrap_or_default()));
    }
}
