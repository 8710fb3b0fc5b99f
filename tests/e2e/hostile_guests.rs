//! Guests that attack the host rather than their callers: host memory through wasi:http
//! header maps, response framing, log floods, outbound request storms and concurrency.

use std::time::Duration;

use crate::harness::{AppDir, client, get_json};

const APP: &str = r#"
[app]
name = "hostile"

[component.hello]
source = "{hello}"
routes = ["GET /hello"]

[component.probe]
source = "{probe}"
routes = ["/probe/..."]
allowed_outbound_hosts = ["http://127.0.0.1:*"]
[component.probe.limits]
memory = "16MiB"
outbound_requests = 3
"#;

/// The most memory process `pid` ever had resident, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib * 1024
}

#[tokio::test]
async fn header_maps_and_bodies_in_the_host_cannot_outgrow_a_small_bound() {
    for attack in ["/probe/fields", "/probe/bodies"] {
        // A server of its own for each attack, so that one's peak cannot hide the other's.
        let app = AppDir::new(APP);
        let server = app.start(1);
        let (status, _, _) = get_json(&server.url("/probe/fine")).await;
        assert_eq!(status, 200);
        let before = peak_rss(server.pid());
        let (status, _, body) = get_json(&server.url(attack)).await;
        assert_eq!(status, 500, "{attack}: {body}");
        let grown = peak_rss(server.pid()).saturating_sub(before);
        assert!(
            grown < 64 << 20,
            "{attack}: the host's peak memory grew by {} MiB for one request",
            grown >> 20
        );
        let (status, _, _) = get_json(&server.url("/hello")).await;
        assert_eq!(status, 200);
        // Stopped by the resource cap (1024), not by wasmtime's default of a million.
        let log = server.wait_for_log("resource table has no free keys");
        assert!(
            log.contains("resource table has no free keys"),
            "{attack}: {log}"
        );
    }
}

#[tokio::test]
async fn guests_cannot_set_framing_headers_or_interim_statuses() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let response = client()
        .get(server.url("/probe/framing"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-length"], "5");
    assert!(!headers.contains_key("transfer-encoding"));
    assert!(!headers.contains_key("upgrade"));
    assert_eq!(headers["x-probe"], "framing");
    assert_eq!(response.text().await.expect("body"), "short");

    for status in ["101", "103", "199"] {
        let (code, _, body) = get_json(&server.url(&format!("/probe/status?{status}"))).await;
        assert_eq!(code, 500, "status {status}: {body}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("not a final HTTP status")),
            "{body}"
        );
    }
    let response = client()
        .get(server.url("/probe/status?204"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 204);

    for count in ["257", "100000"] {
        let (code, _, body) = get_json(&server.url(&format!("/probe/headers?{count}"))).await;
        assert_eq!(code, 500, "{count} headers: {body}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("headers is more than")),
            "{body}"
        );
    }
    let response = client()
        .get(server.url("/probe/headers?90"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["x-h89"], "v");
}

#[tokio::test]
async fn guest_output_is_capped_in_lines_as_well_as_bytes() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let (status, request_id, _) = get_json(&server.url("/probe/flood")).await;
    assert_eq!(status, 200);
    let request_id = request_id.expect("request id");
    // The invocation's own line comes after its output.
    let log = server.wait_for_log(&format!("invoked request_id=\"{request_id}\""));
    let flood_lines = log
        .lines()
        .filter(|line| line.contains("flood line") && line.contains(&request_id))
        .count();
    assert_eq!(flood_lines, 100, "{log}");
    assert!(log.contains("limits.log_lines is 100"), "{log}");
    let logged = log
        .lines()
        .filter(|line| line.contains(&request_id))
        .count();
    assert_eq!(
        logged, 102,
        "100 lines, the marker and the invocation's line; empty lines are not logged: {log}"
    );
}

#[tokio::test]
async fn an_invocation_makes_at_most_its_outbound_requests() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let authority = server.base.trim_start_matches("http://").to_string();
    let (status, _, body) =
        get_json(&server.url(&format!("/probe/fetch-many?5&{authority}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sent"], 3, "{body}");
    assert_eq!(body["denied"], 2, "{body}");
    let log = server.wait_for_log("limits.outbound_requests");
    assert!(log.contains("limits.outbound_requests"), "{log}");
    // The count is per invocation: the next request may send again.
    let (_, _, body) = get_json(&server.url(&format!("/probe/fetch-many?1&{authority}"))).await;
    assert_eq!(body["sent"], 1, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_component_gets_at_most_its_default_concurrency() {
    let app = AppDir::new(
        r#"
[app]
name = "busy"

[component.probe]
source = "{probe}"
routes = ["/probe/..."]
"#,
    );
    let server = app.start(1);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    // Each holds its instance for 5 s: far longer than a request waits for a slot (1 s).
    let requests: Vec<_> = (0..110)
        .map(|_| {
            let request = http.get(server.url("/probe/sleep?5000")).send();
            tokio::spawn(async move { request.await.expect("request").status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.expect("task"));
    }
    let served = statuses.iter().filter(|s| **s == 200).count();
    let overloaded = statuses.iter().filter(|s| **s == 503).count();
    assert_eq!(
        (served, overloaded),
        (100, 10),
        "the default limits.max_concurrency is 100: {statuses:?}"
    );
}
