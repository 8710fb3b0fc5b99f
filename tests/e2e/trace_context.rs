//! W3C Trace Context: a client's valid `traceparent` reaches the guest's `context` and goes on
//! with the guest's outbound requests; an invalid one is dropped.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{AppDir, client};

const APP: &str = r#"
[app]
name = "traced"

[component.probe]
source = "{probe}"
routes = ["/probe/..."]
allowed_outbound_hosts = ["http://127.0.0.1:*"]
"#;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The guest's view of `traceparent` when the client sends `sent`.
async fn seen_by_guest(url: &str, sent: Option<&str>) -> Value {
    let mut request = client().get(url);
    if let Some(parent) = sent {
        request = request.header("traceparent", parent);
    }
    let response = request.send().await.expect("answer");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    body["context"]["traceParent"].clone()
}

#[tokio::test]
async fn a_valid_trace_parent_reaches_the_guest_and_an_invalid_one_does_not() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let url = server.url("/probe/env");
    assert_eq!(seen_by_guest(&url, Some(PARENT)).await, PARENT);
    assert_eq!(seen_by_guest(&url, None).await, Value::Null);
    let zero_trace = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
    assert_eq!(seen_by_guest(&url, Some(zero_trace)).await, Value::Null);
    assert_eq!(seen_by_guest(&url, Some("garbage")).await, Value::Null);
}

/// Accepts one HTTP request on a loopback port, answers 204 and returns its head.
async fn one_request_head(listener: tokio::net::TcpListener) -> String {
    let (mut stream, _) = listener.accept().await.expect("accept");
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await.expect("read");
        assert!(read > 0, "the request ended before its head did");
        head.extend_from_slice(&buffer[..read]);
    }
    stream
        .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    String::from_utf8_lossy(&head).to_lowercase()
}

/// The head of the outbound request the guest makes while serving a request that carried
/// `sent`.
async fn outbound_head(server: &crate::harness::Server, sent: Option<&str>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let authority = listener.local_addr().expect("address").to_string();
    let received = tokio::spawn(one_request_head(listener));
    let mut request = client().get(server.url(&format!("/probe/fetch?{authority}")));
    if let Some(parent) = sent {
        request = request.header("traceparent", parent);
    }
    let response = request.send().await.expect("answer");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], 204, "{body}");
    tokio::time::timeout(Duration::from_secs(10), received)
        .await
        .expect("the outbound request arrived")
        .expect("task")
}

#[tokio::test]
async fn the_trace_parent_goes_on_with_outbound_requests() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let head = outbound_head(&server, Some(PARENT)).await;
    assert!(
        head.contains(&format!("\r\ntraceparent: {PARENT}\r\n")),
        "{head}"
    );
    let head = outbound_head(&server, None).await;
    assert!(!head.contains("traceparent"), "{head}");
}
