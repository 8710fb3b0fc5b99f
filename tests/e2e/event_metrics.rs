//! The event log in `/metrics`: events by stream and outcome, and how many wait.

use std::time::{Duration, Instant};

use crate::harness::{AppDir, client};

const APP: &str = r#"
[app]
name = "observed"
metrics = true

[component.worker]
source = "{events}"
routes = ["/events/..."]
key_value = ["log", "watched"]
queues = ["jobs"]

[[trigger.queue]]
queue = "jobs"
component = "worker"
max_attempts = 2
backoff = { initial = "100ms", max = "1s" }
"#;

/// The value of the series named `series` (exactly, with its labels but `app` and
/// `process`), summed over processes.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .filter(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn events_are_counted_by_stream_and_outcome() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let secret = app.secret_key();
    for body in ["ok:a", "ok:b", "fail:9:c"] {
        let status = client()
            .post(server.url("/queue/v1/jobs"))
            .bearer_auth(&secret)
            .body(body)
            .send()
            .await
            .expect("publish")
            .status();
        assert_eq!(status.as_u16(), 202);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = client()
            .get(server.url("/metrics"))
            .send()
            .await
            .expect("scrape")
            .text()
            .await
            .expect("text");
        let outcome = |outcome| {
            value(
                &text,
                "nimbus_events_total",
                &[("stream", "jobs"), ("outcome", outcome)],
            )
        };
        let counts = (
            outcome("handled"),
            outcome("retried"),
            outcome("dead_lettered"),
        );
        if counts == (2.0, 1.0, 1.0) {
            let invocations = value(
                &text,
                "nimbus_invocations_total",
                &[("component", "worker"), ("trigger", "queue")],
            );
            assert_eq!(invocations, 4.0, "two handled, one failing twice");
            assert!(
                text.contains("nimbus_queue_depth{"),
                "the depth is published:\n{text}"
            );
            return;
        }
        assert!(Instant::now() < deadline, "{counts:?}\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
