//! Guests in JavaScript (componentize-js) and Python (componentize-py), built with the SDKs in
//! `guests/sdk` against the worlds `nimbus build` writes from their grants: the same todo
//! scenario as the Rust guest, refusal at load of what the manifest does not grant, and
//! `access-denied` at call time as the language's own exception.

use serde_json::json;

use crate::harness::{AppDir, client, send_json};

/// The example app's todo component in `language` (`js` or `py`), with `grants`.
fn todo_app(language: &str, grants: &str) -> AppDir {
    AppDir::new(&format!(
        r#"
[app]
name = "todo"

[component.todo]
source = "{{{language}-todo}}"
routes = [{{ route = "/{language}/todos/...", auth = "required" }}]
{grants}
[component.todo.limits]
memory = "64MiB"

[bucket.files]
access = "owner"
"#
    ))
}

const GRANTS: &str = r#"key_value = ["notes"]
buckets = { files = "read-write" }
config = { store = "notes", bucket = "files" }"#;

async fn the_todo_scenario_passes(language: &str) {
    let app = todo_app(language, GRANTS);
    let server = app.start(2);
    crate::todo_scenario::run(&server, &format!("/{language}/todos"), "files").await;
}

#[tokio::test]
async fn the_javascript_todo_passes_the_todo_scenario() {
    the_todo_scenario_passes("js").await;
}

#[tokio::test]
async fn the_python_todo_passes_the_todo_scenario() {
    the_todo_scenario_passes("py").await;
}

#[test]
fn a_guest_importing_an_ungranted_interface_is_refused_at_load() {
    for language in ["js", "py"] {
        // The todo's world imports the object store; this manifest grants no bucket.
        let app = todo_app(language, "key_value = [\"notes\"]");
        let output = app.run(&["check", &app.path().to_string_lossy()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{language}: {stderr}");
        assert!(
            stderr.contains("nimbus:platform/object-store"),
            "{language}: {stderr}"
        );
        assert!(stderr.contains("buckets = {"), "{language}: {stderr}");
    }
}

#[tokio::test]
async fn an_ungranted_store_raises_access_denied_in_the_guests_language() {
    for language in ["js", "py"] {
        // Granted `notes`, the component is configured to open `secrets`.
        let grants = GRANTS.replace("store = \"notes\"", "store = \"secrets\"");
        let app = todo_app(language, &grants);
        let server = app.start(1);
        let ann = crate::auth::signup(&server, "ann@example.com").await;
        let (status, _, body) = send_json(
            client()
                .post(server.url(&format!("/{language}/todos")))
                .bearer_auth(&ann.access)
                .json(&json!({ "title": "x" })),
        )
        .await;
        // The SDK turns the platform's error into an exception (NimbusError), which its router
        // answers with the error's status.
        assert_eq!(status, 403, "{language}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("access-denied: ") && message.contains("secrets"),
            "{language}: {body}"
        );
    }
}

#[tokio::test]
async fn hello_answers_in_every_language() {
    let app = AppDir::new(
        r#"
[app]
name = "hello"

[component.js-hello]
source = "{js-hello}"
routes = ["GET /js/hello"]

[component.py-hello]
source = "{py-hello}"
routes = ["GET /py/hello"]
"#,
    );
    let server = app.start(1);
    for (language, name) in [("js", "javascript"), ("py", "python")] {
        let (status, request_id, body) = send_json(
            client()
                .get(server.url(&format!("/{language}/hello?name=Ann")))
                .header("x-request-id", format!("hello-{language}")),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            json!({
                "message": "Hello, Ann!",
                "requestId": format!("hello-{language}"),
                "language": name,
            })
        );
        assert_eq!(request_id, Some(format!("hello-{language}")));
    }
}
