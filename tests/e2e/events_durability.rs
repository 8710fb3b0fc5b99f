//! Nothing acknowledged is lost: queue messages published (and answered 202) before a `kill -9`
//! of the whole host, or of one worker process, are all handled after it, and a handler that
//! was running when its process died gets its event again once its lease runs out.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::harness::{AppDir, Server, client, get_json};

fn app(concurrency: u32) -> String {
    format!(
        r#"
[app]
name = "durable"

[component.worker]
source = "{{events}}"
routes = ["/events/..."]
key_value = ["log", "watched"]
queues = ["jobs"]
[component.worker.limits]
timeout = "3s"

[[trigger.queue]]
queue = "jobs"
component = "worker"
concurrency = {concurrency}
lease = "8s"
backoff = {{ initial = "100ms", max = "1s" }}
"#
    )
}

/// Publishes `bodies`, 16 at a time; each must be acknowledged with 202.
async fn publish_all(server: &Server, secret: &str, bodies: Vec<String>) {
    let http = client();
    for chunk in bodies.chunks(16) {
        let sends = chunk.iter().map(|body| {
            http.post(server.url("/queue/v1/jobs"))
                .bearer_auth(secret)
                .body(body.clone())
                .send()
        });
        for response in futures::future::join_all(sends).await {
            assert_eq!(response.expect("publish").status().as_u16(), 202);
        }
    }
}

/// The tags of the messages the guest has handled (at least begun).
async fn handled(server: &Server) -> BTreeSet<String> {
    let (status, _, body) = get_json(&server.url("/events/log?ran/")).await;
    assert_eq!(status, 200);
    body.as_object()
        .expect("entries")
        .keys()
        .filter_map(|key| key.split('/').nth(1).map(str::to_string))
        .collect()
}

async fn wait_until_handled(server: &Server, wanted: &BTreeSet<String>, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let seen = handled(server).await;
        let missing: Vec<&String> = wanted.difference(&seen).take(5).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never handled (e.g. {missing:?})\n{}",
            wanted.difference(&seen).count(),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn messages_acknowledged_before_a_kill_of_the_host_are_all_handled_after_it() {
    let app = AppDir::new(&app(1));
    let server = app.start(1);
    let secret = app.secret_key();
    // One slow handler holds the only slot, so everything after it waits unhandled.
    publish_all(&server, &secret, vec!["sleep:2500:inflight".into()]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !handled(&server).await.contains("inflight") {
        assert!(Instant::now() < deadline, "the slow handler never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let tags: Vec<String> = (0..500).map(|i| format!("m{i}")).collect();
    publish_all(
        &server,
        &secret,
        tags.iter().map(|t| format!("ok:{t}")).collect(),
    )
    .await;
    server.kill();

    let server = app.start(1);
    let mut wanted: BTreeSet<String> = tags.into_iter().collect();
    wait_until_handled(&server, &wanted, Duration::from_secs(60)).await;
    // The event whose handler died with the host is delivered again once its lease is up.
    wanted.clear();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, _, done) = get_json(&server.url("/events/log?done/inflight/")).await;
        if done.as_object().is_some_and(|d| !d.is_empty()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the interrupted event never finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn messages_survive_a_kill_of_one_worker_process() {
    let app = AppDir::new(&app(4));
    let server = app.start_processes(2);
    crate::harness::from_every_process(&server, "/events/log?none", 2, 200, 2).await;
    let secret = app.secret_key();
    let tags: Vec<String> = (0..300).map(|i| format!("w{i}")).collect();
    let bodies: Vec<String> = tags.iter().map(|t| format!("sleep:20:{t}")).collect();
    let (first, rest) = bodies.split_at(150);
    publish_all(&server, &secret, first.to_vec()).await;
    let workers = server.worker_pids();
    assert_eq!(workers.len(), 1, "one worker process beside the first");
    if let Ok(pid) = libc::pid_t::try_from(workers[0]) {
        // SAFETY: kill takes plain integers; the pid is a child of the server under test.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    // Connections the kernel had queued for the killed process are reset: publish the rest
    // once its replacement listens.
    let log = server.wait_for_log("worker process restarted");
    assert!(log.contains("worker process restarted"), "{log}");
    publish_all(&server, &secret, rest.to_vec()).await;
    let wanted: BTreeSet<String> = tags.into_iter().collect();
    wait_until_handled(&server, &wanted, Duration::from_secs(60)).await;
}
