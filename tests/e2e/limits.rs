use std::time::{Duration, Instant};

use crate::harness::{AppDir, Server, get_json};

/// A listener the probe knocks on when it starts to spin (`/probe/spin?ADDRESS`), so a test
/// knows the guest is running instead of guessing with a sleep; the manifest must allow
/// outbound requests to it (see [`allow`]).
struct SpinSignal(std::net::TcpListener);

impl SpinSignal {
    fn new() -> Self {
        Self(std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
    }

    fn address(&self) -> String {
        self.0.local_addr().expect("address").to_string()
    }

    /// The manifest line that lets the probe knock.
    fn allow(&self) -> String {
        format!("allowed_outbound_hosts = [\"http://{}\"]", self.address())
    }

    /// Starts `/probe/spin` on `server` and returns once the guest is spinning.
    fn spin(
        &self,
        server: &Server,
    ) -> tokio::task::JoinHandle<(u16, Option<String>, serde_json::Value)> {
        let url = server.url(&format!("/probe/spin?{}", self.address()));
        let spinning = tokio::spawn(async move { get_json(&url).await });
        self.0.set_nonblocking(true).expect("nonblocking");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.0.accept() {
                // Dropping the connection answers the knock; the guest goes on to spin.
                Ok(_) => return spinning,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("the guest never started spinning: {e}"),
            }
        }
    }
}

const APP: &str = r#"
[app]
name = "limits"

[component.hello]
source = "{hello}"
routes = ["GET /hello"]

[component.probe]
source = "{probe}"
routes = ["/probe/..."]
ALLOW
[component.probe.limits]
timeout = "1500ms"
memory = "32MiB"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spinning_guest_is_cut_at_its_timeout_while_others_are_served() {
    let signal = SpinSignal::new();
    let app = AppDir::new(&APP.replace("ALLOW", &signal.allow()));
    // One worker: the other requests share the thread with the spinning guest.
    let server = app.start(1);
    let started = Instant::now();
    let spinning = signal.spin(&server);
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
    assert!(started.elapsed() >= Duration::from_millis(1500));
    let (status, _, _) = get_json(&server.url("/probe/fine")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_memory_hungry_guest_is_stopped_at_its_limit() {
    let app = AppDir::new(&APP.replace("ALLOW", ""));
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
    let app = AppDir::new(&APP.replace("ALLOW", ""));
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
    let signal = SpinSignal::new();
    let app = AppDir::new(&format!(
        r#"
[app]
name = "limits"

[component.probe]
source = "{{probe}}"
routes = ["/probe/..."]
{}
[component.probe.limits]
timeout = "3s"
max_concurrency = 1
"#,
        signal.allow()
    ));
    let server = app.start(1);
    let spinning = signal.spin(&server);
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
