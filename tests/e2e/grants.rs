use crate::harness::{AppDir, get_json};

#[test]
fn a_guest_importing_key_value_without_a_grant_fails_to_load() {
    let app = AppDir::new(
        r#"
[app]
name = "grants"

[component.counter]
source = "{counter}"
routes = ["/count"]
"#,
    );
    let output = app.run(&["check", app.path().to_str().expect("utf-8 path")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("component `counter`"), "{stderr}");
    assert!(stderr.contains("nimbus:platform/key-value"), "{stderr}");
    assert!(stderr.contains("key_value = ["), "{stderr}");
    assert!(stderr.contains("nimbus.toml:5:"), "{stderr}");
}

#[tokio::test]
async fn opening_a_store_outside_the_grant_is_access_denied() {
    let app = AppDir::new(
        r#"
[app]
name = "grants"

[component.counter]
source = "{counter}"
routes = ["/count/..."]
key_value = ["something-else"]
"#,
    );
    let server = app.start(1);
    let (status, _, body) = get_json(&server.url("/count/x")).await;
    assert_eq!(status, 403, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("access denied"), "{error}");
    assert!(
        error.contains("key_value = [\\\"counter\\\"]")
            || error.contains("key_value = [\"counter\"]"),
        "{error}"
    );
}

#[tokio::test]
async fn wasi_is_linked_but_powerless() {
    let app = AppDir::new(
        r#"
[app]
name = "sandbox"

[component.probe]
source = "{probe}"
routes = ["/probe/..."]
"#,
    );
    let server = app.start(1);
    // A real listener the guest would reach if sockets were allowed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let target = listener.local_addr().expect("address");
    let (status, _, body) = get_json(&server.url(&format!("/probe/escape?{target}"))).await;
    assert_eq!(status, 200, "{body}");
    for attempt in ["read_file", "list_dir", "write_file", "tcp_connect"] {
        assert_eq!(
            body[attempt], false,
            "{attempt} must fail inside the sandbox: {body}"
        );
    }
}
