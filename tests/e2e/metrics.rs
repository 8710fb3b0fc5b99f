//! `GET /metrics`: Prometheus' own checker accepts it, counters move by exactly what was sent
//! whichever process answers the scrape, and it is served only where the operator asks.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::harness::{AppDir, client, fresh_connection_client, from_every_process};

/// Prometheus' `promtool`, put under target/tools by `make tools` (`make test` runs it).
fn promtool() -> PathBuf {
    let path = std::env::var_os("PROMTOOL").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/tools/prometheus/usr/bin/promtool")
        },
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "{} is missing: run `make tools` (scripts/promtool.sh)",
        path.display()
    );
    path
}

/// The sum of every sample of `name` whose labels include all of `labels`.
fn sum(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let wanted = metric == name
                && labels
                    .iter()
                    .all(|(key, value)| label_text.contains(&format!("{key}=\"{value}\"")));
            wanted.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

async fn scrape(url: &str) -> String {
    let response = client().get(url).send().await.expect("scrape");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.expect("exposition")
}

/// Scrapes `url` until `done` holds (other processes publish their counts once a second).
async fn scrape_until(url: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = scrape(url).await;
        if done(&text) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn counters_across_processes_move_by_exactly_what_was_sent_and_promtool_accepts_them() {
    let app = AppDir::new(
        r#"
[app]
name = "metered"
metrics = true

[component.probe]
source = "{probe}"
routes = [
    "/p/...",
    { route = "/once/...", rate_limit = { per = "ip", requests = 1, window = "1h" } },
]
"#,
    );
    let server = app.start_processes(2);
    let ok = from_every_process(&server, "/p/status?201", 2, 201, 6)
        .await
        .len() as u32;
    let http = fresh_connection_client();
    for _ in 0..3 {
        let response = http.get(server.url("/p/status?404")).send().await;
        assert_eq!(response.expect("answer").status().as_u16(), 404);
    }
    for _ in 0..2 {
        let response = http.get(server.url("/p/panic")).send().await;
        assert_eq!(response.expect("answer").status().as_u16(), 500);
    }
    let first = http
        .get(server.url("/once/x"))
        .send()
        .await
        .expect("answer");
    assert_eq!(first.status().as_u16(), 200);
    let second = http
        .get(server.url("/once/x"))
        .send()
        .await
        .expect("answer");
    assert_eq!(second.status().as_u16(), 429);
    let invoked = f64::from(ok + 3 + 2 + 1);

    let url = server.url("/metrics");
    let probe = [("component", "probe")];
    let text = scrape_until(&url, |text| {
        sum(text, "nimbus_invocation_duration_seconds_count", &probe) == invoked
    })
    .await;
    let class = |status| {
        sum(
            &text,
            "nimbus_invocations_total",
            &[("component", "probe"), ("status", status)],
        )
    };
    assert_eq!(class("2xx"), f64::from(ok + 1), "{text}");
    assert_eq!(class("4xx"), 3.0, "{text}");
    assert_eq!(class("5xx"), 2.0, "{text}");
    assert_eq!(
        sum(&text, "nimbus_invocation_duration_seconds_count", &probe),
        invoked,
        "the histogram counts every invocation: {text}"
    );
    assert_eq!(sum(&text, "nimbus_rate_limited_total", &probe), 1.0);
    assert_eq!(
        sum(
            &text,
            "nimbus_invocation_starts_total",
            &[("kind", "fresh")]
        ),
        invoked
    );
    assert_eq!(sum(&text, "nimbus_invocations_in_flight", &[]), 0.0);
    // Both processes' series are in the answer, each labelled apart.
    for process in ["0", "1"] {
        assert!(
            sum(&text, "nimbus_invocations_total", &[("process", process)]) > 0.0,
            "process {process} is missing: {text}"
        );
    }
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(line.contains("app=\"metered\""), "{line}");
    }

    let checked = std::process::Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("promtool");
    assert!(
        checked.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[tokio::test]
async fn metrics_are_served_only_where_the_operator_asks() {
    let app = AppDir::new(
        r#"
[app]
name = "quiet"

[component.probe]
source = "{probe}"
routes = ["/p/..."]
"#,
    );
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        probe.local_addr().expect("address").port()
    };
    let metrics_at = format!("127.0.0.1:{port}");
    let server = app.start_configured(
        &[
            "--processes",
            "1",
            "--workers",
            "1",
            "--metrics-listen",
            &metrics_at,
        ],
        |_| {},
    );
    // Not on the app's port: `/metrics` is just a path there, and no route matches it.
    let on_app_port = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("answer");
    assert_eq!(on_app_port.status().as_u16(), 404);
    assert!(!on_app_port.text().await.expect("body").contains("nimbus_"));
    let response = client().get(server.url("/p/status?200")).send().await;
    assert_eq!(response.expect("answer").status().as_u16(), 200);
    let separate = format!("http://{metrics_at}/metrics");
    let text = scrape_until(&separate, |text| {
        sum(text, "nimbus_invocations_total", &[("status", "2xx")]) == 1.0
    })
    .await;
    assert_eq!(
        sum(&text, "nimbus_invocations_total", &[("status", "2xx")]),
        1.0
    );
    drop(server);

    let off = app.start_configured(
        &[
            "--processes",
            "1",
            "--metrics=false",
            "--metrics-listen",
            &metrics_at,
        ],
        |_| {},
    );
    let response = client().get(&separate).send().await.expect("answer");
    assert_eq!(response.status().as_u16(), 404);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("--metrics=false")
    );
    drop(off);
}
