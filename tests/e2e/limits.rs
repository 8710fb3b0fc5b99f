use std::time::Instant;

use crate::harness::{AppDir, get_json};

const APP: &str = r#"
[app]
name = "limits"

[component.hello]
source = "{hello}"
routes = ["GET /hello"]

[component.probe]
source = "{probe}"
routes = ["/probe/..."]
[component.probe.limits]
timeout = "1500ms"
memory = "32MiB"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spinning_guest_is_cut_at_its_timeout_while_others_are_served() {
    let app = AppDir::new(APP);
    // One worker: the other requests share the thread with the spinning guest.
    let server = app.start(1);
    let spin_url = server.url("/probe/spin");
    let started = Instant::now();
    let spinning = tokio::spawn(async move { get_json(&spin_url).await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for _ in 0..20 {
        let (status, _, body) = get_json(&server.url("/hello")).await;
        assert_eq!(status, 200);
        assert_eq!(body["message"], "Hello, Serverless!");
    }
    assert!(
        !spinning.is_finished(),
        "hello requests must be served while the guest spins"
    );
    let (status, request_id, body) = spinning.await.expect("spin request");
    assert_eq!(status, 504, "{body}");
    assert!(request_id.is_some());
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out")),
        "{body}"
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(1500));
    let (status, _, _) = get_json(&server.url("/probe/fine")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_memory_hungry_guest_is_stopped_at_its_limit() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let (status, request_id, body) = get_json(&server.url("/probe/alloc")).await;
    assert_eq!(status, 500, "{body}");
    assert!(request_id.is_some());
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("memory limit")),
        "{body}"
    );
    let (status, _, _) = get_json(&server.url("/probe/fine")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_panicking_guest_gives_500_and_the_next_request_is_served() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let (status, request_id, body) = get_json(&server.url("/probe/panic")).await;
    assert_eq!(status, 500, "{body}");
    let request_id = request_id.expect("request id");
    assert_eq!(body["requestId"].as_str(), Some(request_id.as_str()));
    let (status, _, body) = get_json(&server.url("/probe/fine")).await;
    assert_eq!(status, 200, "{body}");
    let log = server.wait_for_log("probe was asked to panic");
    assert!(log.contains("probe was asked to panic"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_over_max_concurrency_get_503_with_retry_after() {
    let app = AppDir::new(
        r#"
[app]
name = "limits"

[component.probe]
source = "{probe}"
routes = ["/probe/..."]
[component.probe.limits]
timeout = "3s"
max_concurrency = 1
"#,
    );
    let server = app.start(1);
    let spin_url = server.url("/probe/spin");
    let spinning = tokio::spawn(async move { get_json(&spin_url).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let response = crate::harness::client()
        .get(server.url("/probe/fine"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert!(response.headers().contains_key("x-request-id"));
    let (status, _, _) = spinning.await.expect("spin request");
    assert_eq!(status, 504);
    let (status, _, _) = get_json(&server.url("/probe/fine")).await;
    assert_eq!(status, 200, "the slot is free again");
}
