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
    assert!(error.starts_with("access-denied: "), "{error}");
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

/// A local upstream answering every request with 204.
async fn upstream() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    address
}

fn outbound_app(grant: &str) -> AppDir {
    AppDir::new(&format!(
        r#"
[app]
name = "outbound"

[component.probe]
source = "{{probe}}"
routes = ["/probe/..."]
{grant}
"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_http_is_denied_without_a_grant() {
    let target = upstream().await;
    let app = outbound_app("");
    let server = app.start(1);
    let (status, _, body) = get_json(&server.url(&format!("/probe/fetch?{target}"))).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("HttpRequestDenied")),
        "{body}"
    );
    let log = server.wait_for_log("allowed_outbound_hosts");
    assert!(
        log.contains(&format!("allowed_outbound_hosts = [\"http://{target}\"]")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_http_reaches_only_the_granted_origin() {
    let target = upstream().await;
    let other = upstream().await;
    let app = outbound_app(&format!("allowed_outbound_hosts = [\"http://{target}\"]"));
    let server = app.start(1);
    let (_, _, body) = get_json(&server.url(&format!("/probe/fetch?{target}"))).await;
    assert_eq!(body["status"], 204, "{body}");
    let (_, _, body) = get_json(&server.url(&format!("/probe/fetch?{other}"))).await;
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("HttpRequestDenied")),
        "{body}"
    );
}
