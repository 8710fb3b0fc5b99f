//! Backends are runtime configuration: `--store` and `--objects` (or `NIMBUS_STORE` and
//! `NIMBUS_OBJECTS`) say where the app's data lives, for every process of the host.

use crate::harness::{AppDir, fresh_connection_client, get_json, send_json};
use crate::storage::APP;

#[tokio::test]
async fn the_store_and_objects_go_where_the_flags_say_from_every_process() {
    let app = AppDir::new(APP);
    let elsewhere = tempfile::tempdir().expect("dir");
    let store = elsewhere.path().join("custom.redb");
    let objects = elsewhere.path().join("objects");
    let server = app.start_configured(
        &[
            "--processes",
            "2",
            &format!("--store=redb:{}", store.display()),
        ],
        |command| {
            command.env("NIMBUS_OBJECTS", format!("local:{}", objects.display()));
        },
    );
    let mut processes = std::collections::HashSet::new();
    for expected in 1..=20 {
        let (status, request_id, body) =
            send_json(fresh_connection_client().get(server.url("/count/x"))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["count"], expected, "{body}");
        processes.insert(crate::harness::process_of(&request_id.unwrap_or_default()));
    }
    assert_eq!(processes.len(), 2, "both processes used the one store");
    assert!(store.is_file(), "the store is where --store says");
    assert!(
        !app.data().join("kv.redb").exists(),
        "not in the data directory"
    );
    // A restart with the same flags finds the data again.
    drop(server);
    let server = app.start_configured(&[&format!("--store=redb:{}", store.display())], |_| {});
    let (_, _, body) = get_json(&server.url("/count/x")).await;
    assert_eq!(body["count"], 21);
}

#[test]
fn a_backend_nimbus_does_not_have_is_refused_with_what_it_offers() {
    let app = AppDir::new(APP);
    let path = app.path().to_string_lossy().into_owned();
    let output = app.run(&["check", &path, "--store", "postgres://db/app"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no PostgreSQL backend yet"), "{stderr}");
    assert!(stderr.contains("redb:PATH"), "{stderr}");
    let output = app.run(&["check", &path, "--objects", "s3://bucket"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no S3 backend yet"));
}
