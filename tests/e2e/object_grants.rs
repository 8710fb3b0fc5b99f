//! Buckets granted to guests: what a component may do with the buckets its manifest names,
//! and the todo example app's attachments, from every worker process.

use serde_json::{Value, json};

use crate::auth::signup;
use crate::harness::{AppDir, Server, client, send_json};
use crate::objects::{BUCKETS, object_url};

const TODO: &str = r#"
[app]
name = "todo"

[component.todo]
source = "{todo}"
routes = [{ route = "/todos/...", auth = "required" }]
key_value = ["todos"]
queues = ["reminders"]
GRANT

[bucket.attachments]
access = "owner"
"#;

#[test]
fn a_guest_without_a_bucket_grant_fails_to_load() {
    let app = AppDir::new(&TODO.replace("GRANT", ""));
    let output = app.run(&["check", &app.path().to_string_lossy()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nimbus:platform/object-store"), "{stderr}");
    assert!(stderr.contains("buckets = {"), "{stderr}");
    let undeclared = AppDir::new(&TODO.replace("GRANT", "buckets = { elsewhere = \"read\" }"));
    let output = undeclared.run(&["check", &undeclared.path().to_string_lossy()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bucket `elsewhere` is not declared"),
        "{stderr}"
    );
}

async fn create_todo(server: &Server, token: &str, title: &str) -> Value {
    let (status, _, todo) = send_json(
        client()
            .post(server.url("/todos"))
            .bearer_auth(token)
            .json(&json!({ "title": title })),
    )
    .await;
    assert_eq!(status, 201, "{todo}");
    todo
}

#[tokio::test]
async fn a_read_only_grant_cannot_put() {
    let app = AppDir::new(&TODO.replace("GRANT", "buckets = { attachments = \"read\" }"));
    let server = app.start(1);
    let ann = signup(&server, "ann@example.com").await;
    create_todo(&server, &ann.access, "read only").await;
    let (status, _, body) = send_json(
        client()
            .put(server.url("/todos/1/attachments/a.txt"))
            .bearer_auth(&ann.access)
            .body("x"),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("may not write"),
        "{body}"
    );
}

#[tokio::test]
async fn the_todo_app_keeps_each_users_todos_and_attachments() {
    let app = AppDir::new(&TODO.replace("GRANT", "buckets = { attachments = \"read-write\" }"));
    let server = app.start(2);
    crate::todo_scenario::run(&server, "/todos", "attachments").await;
}

#[tokio::test]
async fn users_sessions_and_objects_are_shared_by_every_worker_process() {
    let app = AppDir::new(BUCKETS);
    let server = app.start_processes(3);
    let fresh = crate::harness::fresh_connection_client;
    let ann = signup(&server, "ann@example.com").await;
    let mut refresh = ann.refresh.clone();
    let mut processes = std::collections::HashSet::new();
    for round in 0..6 {
        let key = format!("{}/note-{round}.txt", ann.user_id);
        let uploaded = fresh()
            .post(object_url(&server, "docs", &key))
            .bearer_auth(&ann.access)
            .header("content-type", "text/plain")
            .body(format!("note {round}"))
            .send()
            .await
            .expect("upload");
        assert_eq!(uploaded.status().as_u16(), 200);
        if let Some(id) = uploaded.headers().get("x-request-id") {
            processes.insert(crate::harness::process_of(id.to_str().unwrap_or_default()));
        }
        let response = fresh()
            .get(object_url(&server, "docs", &key))
            .bearer_auth(&ann.access)
            .send()
            .await
            .expect("download");
        assert_eq!(
            response.text().await.expect("body"),
            format!("note {round}")
        );
        // Each refresh token works once, whichever process sees it.
        let (status, request_id, body) = send_json(
            fresh()
                .post(server.url("/auth/v1/token?grant_type=refresh_token"))
                .json(&json!({ "refresh_token": refresh })),
        )
        .await;
        assert_eq!(status, 200, "round {round}: {body}");
        refresh = body["refresh_token"].as_str().expect("token").to_string();
        processes.insert(crate::harness::process_of(&request_id.expect("request id")));
    }
    let (status, _, body) = send_json(
        fresh()
            .post(server.url("/auth/v1/token?grant_type=refresh_token"))
            .json(&json!({ "refresh_token": ann.refresh })),
    )
    .await;
    assert_eq!(status, 401, "the first token was used long ago: {body}");
    assert!(server.log().contains("processes=3"));
    assert!(
        processes.len() >= 2,
        "the refresh chain crossed processes: {processes:?}"
    );
}
