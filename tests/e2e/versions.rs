//! Every worker process serves the app version its supervisor loaded, even one restarted after
//! the component's file changed on disk.

use std::collections::HashSet;

use crate::harness::{AppDir, Server, fresh_connection_client, guest};

const APP: &str = r#"
[app]
name = "pinned"

[component.hello]
source = "app.wasm"
routes = ["/hello"]
"#;

/// An app whose component is a copy of `hello` inside the app directory, so the test can
/// overwrite it.
fn app_with_own_copy() -> AppDir {
    let app = AppDir::new(APP);
    std::fs::copy(guest("hello"), app.path().join("app.wasm")).expect("copy hello");
    app
}

/// Overwrites the component with other code and kills the one worker process; returns once the
/// supervisor noticed.
fn change_code_and_kill_worker(app: &AppDir, server: &Server) {
    std::fs::copy(guest("http_hello"), app.path().join("app.wasm")).expect("overwrite");
    let workers = server.worker_pids();
    assert_eq!(
        workers.len(),
        1,
        "one worker process besides the supervisor"
    );
    let killed = std::process::Command::new("kill")
        .args(["-9", &workers[0].to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
}

/// Asks for `/hello`, checks that the pinned (old) code answered, and returns the id of the
/// process that served: request ids start with 8 hex digits of their process.
async fn hello_from_old_code(server: &Server) -> String {
    let response = fresh_connection_client()
        .get(server.url("/hello"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("request id")
        .to_string();
    let body: serde_json::Value = response.json().await.expect("the old code's JSON");
    assert_eq!(body["message"], "Hello, Serverless!", "{body}");
    request_id[..8].to_string()
}

#[tokio::test]
async fn a_restarted_worker_serves_the_pinned_version_not_the_changed_file() {
    let app = app_with_own_copy();
    let cache = app.path().join("cache");
    let cache_arg = cache.to_string_lossy().into_owned();
    let server = app.start_configured(&["--processes", "2", "--cache-dir", &cache_arg], |_| {});
    change_code_and_kill_worker(&app, &server);
    let log = server.wait_for_log("worker process restarted");
    assert!(log.contains("worker process restarted"), "{log}");
    let mut processes = HashSet::new();
    for _ in 0..200 {
        processes.insert(hello_from_old_code(&server).await);
        if processes.len() == 2 {
            break;
        }
    }
    assert_eq!(processes.len(), 2, "the restarted worker served too");
}

#[tokio::test]
async fn a_worker_that_cannot_find_the_pinned_code_refuses_to_serve_the_changed_file() {
    let app = app_with_own_copy();
    let cache = app.path().join("cache");
    let cache_arg = cache.to_string_lossy().into_owned();
    let server = app.start_configured(&["--processes", "2", "--cache-dir", &cache_arg], |_| {});
    // Without the compiled code of the pinned version, a restarted worker has only the
    // changed file.
    std::fs::remove_dir_all(&cache).expect("remove the cache");
    change_code_and_kill_worker(&app, &server);
    let log = server.wait_for_log("changed since this app version was loaded");
    assert!(
        log.contains("changed since this app version was loaded"),
        "{log}"
    );
    for _ in 0..20 {
        hello_from_old_code(&server).await;
    }
}
