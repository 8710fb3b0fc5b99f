//! The HTTP edge: every response carries a request id (the client's when sane, else one the
//! host mints), the built-in APIs' included, and every 5xx is logged once with it.

use crate::harness::{AppDir, client};

const APP: &str = r#"
[app]
name = "edge"

[component.probe]
source = "{probe}"
routes = ["/probe/..."]

[bucket.files]
access = "public-read"
"#;

fn is_host_id(id: &str) -> bool {
    id.len() == 20 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn a_sane_client_request_id_is_kept_and_any_other_replaced() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    for path in ["/probe/fine", "/healthz", "/storage/v1/bucket"] {
        let response = client()
            .get(server.url(path))
            .header("x-request-id", "trace-42.a_b")
            .send()
            .await
            .expect("request");
        assert_eq!(response.headers()["x-request-id"], "trace-42.a_b", "{path}");
    }
    let long = "x".repeat(65);
    for insane in ["has space", "semi;colon", long.as_str()] {
        let response = client()
            .get(server.url("/probe/fine"))
            .header("x-request-id", insane)
            .send()
            .await
            .expect("request");
        let id = response.headers()["x-request-id"].to_str().expect("id");
        assert!(is_host_id(id), "`{insane}` became `{id}`");
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_the_host_minted() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let requests = [
        client().get(server.url("/healthz")),
        client().post(server.url("/auth/v1/token?grant_type=nope")),
        client().get(server.url("/storage/v1/bucket")),
        client().get(server.url("/storage/v1/object/public/files/missing.txt")),
        client().get(server.url("/probe/fine")),
        client().get(server.url("/no/such/route")),
        client().get(server.url("/probe/framing")),
    ];
    for request in requests {
        let response = request.send().await.expect("request");
        let id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(is_host_id(&id), "{} gave `{id}`", response.url());
        assert_eq!(
            response.headers().get_all("x-request-id").iter().count(),
            1,
            "{}",
            response.url()
        );
    }
}

#[tokio::test]
async fn a_server_error_is_logged_once_with_its_request_id() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let response = client()
        .get(server.url("/probe/panic"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 500);
    let id = response.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_string();
    // The error with its detail, once; the invocation's own line says only how it ended.
    let error_lines = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|line| {
                line.contains(&id)
                    && line.contains("status=500")
                    && !line.contains("nimbus::invocation")
            })
            .map(str::to_string)
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut log = server.log();
    while (error_lines(&log).is_empty() || !log.contains(r#"failure="trap""#))
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        log = server.log();
    }
    let lines = error_lines(&log);
    assert_eq!(lines.len(), 1, "{log}");
    let invocation = log
        .lines()
        .filter(|line| line.contains(&id) && line.contains("nimbus::invocation"))
        .collect::<Vec<_>>();
    assert_eq!(invocation.len(), 1, "{log}");
    assert!(
        invocation[0].contains(r#"status=500 failure="trap""#),
        "{log}"
    );
    assert!(
        lines[0].contains("probe"),
        "the detail names the component: {log}"
    );
}
