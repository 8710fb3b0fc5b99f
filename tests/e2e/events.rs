//! Events end to end: queue messages published over HTTP and by guests, retried with growing
//! gaps and dead-lettered; key-value changes delivered in order; schedules that fire once per
//! tick per host, however many processes serve; and the manifest errors a trigger can make.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::harness::{AppDir, Server, client, from_every_process, get_json, send_json};

const APP: &str = r#"
[app]
name = "evented"

[component.worker]
source = "{events}"
routes = ["/events/..."]
key_value = ["log", "watched"]
queues = ["jobs"]
[component.worker.limits]
timeout = "5s"

[[trigger.queue]]
queue = "jobs"
component = "worker"
max_attempts = 3
backoff = { initial = "300ms", max = "10s" }

[[trigger.kv]]
store = "watched"
component = "worker"
"#;

/// The guest's log entries under `prefix`.
async fn log_of(server: &Server, prefix: &str) -> BTreeMap<String, String> {
    let (status, _, body) = get_json(&server.url(&format!("/events/log?{prefix}"))).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).expect("log entries")
}

/// Waits until the guest's log under `prefix` has `count` entries (at most 20 s).
async fn wait_for_entries(server: &Server, prefix: &str, count: usize) -> BTreeMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let entries = log_of(server, prefix).await;
        if entries.len() >= count {
            return entries;
        }
        assert!(
            Instant::now() < deadline,
            "only {entries:?} under {prefix}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn publish(
    server: &Server,
    secret: &str,
    queue: &str,
    body: &str,
    query: &str,
) -> (u16, serde_json::Value) {
    let request = client()
        .post(server.url(&format!("/queue/v1/{queue}{query}")))
        .bearer_auth(secret)
        .body(body.to_string());
    let (status, _, json) = send_json(request).await;
    (status, json)
}

fn millis(entries: &BTreeMap<String, String>, key: &str) -> u64 {
    entries[key].parse().expect("a time")
}

#[tokio::test]
async fn failing_messages_are_retried_with_growing_gaps_then_dead_lettered() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let secret = app.secret_key();
    // Only the secret key publishes, and only to a queue the app has.
    let (status, _) = publish(&server, "wrong", "jobs", "ok:x", "").await;
    assert_eq!(status, 401);
    let (status, body) = publish(&server, &secret, "nowhere", "ok:x", "").await;
    assert_eq!(status, 404, "{body}");

    let (status, body) = publish(&server, &secret, "jobs", "fail:2:flaky", "").await;
    assert_eq!(status, 202, "{body}");
    assert!(
        body["id"].as_str().is_some_and(|id| id.len() == 24),
        "{body}"
    );
    let (status, _) = publish(&server, &secret, "jobs", "fail:99:doomed", "").await;
    assert_eq!(status, 202);
    let flaky = wait_for_entries(&server, "ran/flaky/", 3).await;
    let first_gap = millis(&flaky, "ran/flaky/2") - millis(&flaky, "ran/flaky/1");
    let second_gap = millis(&flaky, "ran/flaky/3") - millis(&flaky, "ran/flaky/2");
    assert!(first_gap >= 240, "backoff 300 ms ± 20%: {first_gap}");
    assert!(
        second_gap > first_gap,
        "gaps grow: {first_gap} then {second_gap}"
    );

    // Three attempts, then the dead-letter queue, with every attempt's error.
    wait_for_entries(&server, "ran/doomed/", 3).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let dead = loop {
        let output = app.run_on_data(&["dlq", "list", "--queue", "jobs.dead", "--json"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let listed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        if listed.as_array().is_some_and(|l| !l.is_empty()) {
            break listed;
        }
        assert!(Instant::now() < deadline, "nothing was dead-lettered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let letter = &dead[0];
    assert_eq!(letter["payload"]["body"], "fail:99:doomed");
    assert_eq!(letter["dead"]["from"], "jobs");
    assert_eq!(
        letter["attempts"].as_array().map(Vec::len),
        Some(3),
        "{letter}"
    );
    assert!(
        letter["attempts"][2]["error"]
            .as_str()
            .is_some_and(|e| e.contains("failing attempt 3")),
        "{letter}"
    );
    assert!(log_of(&server, "ran/doomed/4").await.is_empty());
    // The admin API lists the same, for the secret key only.
    let listed = |key: String| {
        client()
            .get(server.url("/admin/v1/dlq?queue=jobs.dead"))
            .bearer_auth(key)
    };
    let (status, _, refused) = send_json(listed("wrong".into())).await;
    assert_eq!(status, 401, "{refused}");
    let (status, _, over_http) = send_json(listed(secret.clone())).await;
    assert_eq!(status, 200, "{over_http}");
    assert_eq!(over_http, dead);

    // A replay delivers it again, counting from one.
    let first_run = millis(&log_of(&server, "ran/doomed/1").await, "ran/doomed/1");
    let id = letter["id"].as_str().expect("id");
    let output = app.run_on_data(&["dlq", "replay", "--queue", "jobs.dead", id]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while millis(&log_of(&server, "ran/doomed/1").await, "ran/doomed/1") == first_run {
        assert!(Instant::now() < deadline, "the replay was not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_dedupe_key_publishes_once_and_guests_publish_only_where_granted() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let secret = app.secret_key();
    let (status, first) = publish(&server, &secret, "jobs", "ok:once", "?dedupe_key=k1").await;
    assert_eq!(status, 202);
    assert_eq!(first["duplicate"], false);
    let (status, second) = publish(&server, &secret, "jobs", "ok:twice", "?dedupe_key=k1").await;
    assert_eq!(status, 202);
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["id"], first["id"]);
    wait_for_entries(&server, "ran/once/", 1).await;

    // A guest publishes to its granted queue; another queue is refused.
    let (status, _, body) = send_json(
        client()
            .post(server.url("/events/publish/jobs"))
            .body("ok:from-guest"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    wait_for_entries(&server, "ran/from-guest/", 1).await;
    let (status, _, body) = send_json(
        client()
            .post(server.url("/events/publish/elsewhere"))
            .body("ok:nope"),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("AccessDenied")),
        "{body}"
    );
    assert!(log_of(&server, "ran/twice/").await.is_empty());
}

#[tokio::test]
async fn a_kv_trigger_sees_a_set_and_a_delete_in_order() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let http = client();
    let status = |r: reqwest::Response| r.status().as_u16();
    let put = http
        .put(server.url("/events/watched/k"))
        .body("v")
        .send()
        .await
        .expect("put");
    assert_eq!(status(put), 200);
    let delete = http
        .delete(server.url("/events/watched/k"))
        .send()
        .await
        .expect("delete");
    assert_eq!(status(delete), 200);
    // Deleting what is not there changes nothing, so it causes no event.
    let again = http
        .delete(server.url("/events/watched/k"))
        .send()
        .await
        .expect("delete");
    assert_eq!(status(again), 200);
    let changes = wait_for_entries(&server, "kv/", 2).await;
    let changes: Vec<&str> = changes.values().map(String::as_str).collect();
    assert_eq!(changes, ["set k", "delete k"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        log_of(&server, "kv/").await.len(),
        2,
        "no event for a no-op delete"
    );
}

#[tokio::test]
async fn a_schedule_fires_once_per_tick_per_host_with_two_processes() {
    let app = AppDir::new(&format!(
        "{APP}\n[[trigger.cron]]\nname = \"tick\"\nschedule = \"* * * * * *\"\ncomponent = \"worker\"\n"
    ));
    let server = app.start_processes(2);
    from_every_process(&server, "/events/log?none", 2, 200, 2).await;
    let first = wait_for_entries(&server, "cron/tick/", 1).await;
    let start: u64 = first
        .keys()
        .next()
        .and_then(|k| k.rsplit('/').next()?.parse().ok())
        .expect("tick");
    tokio::time::sleep(Duration::from_millis(4200)).await;
    let runs = log_of(&server, "cron/tick/").await;
    let ticks: Vec<u64> = runs
        .keys()
        .filter_map(|key| key.rsplit('/').next()?.parse().ok())
        .filter(|tick| *tick >= start && *tick < start + 4000)
        .collect();
    // A run for every tick, each exactly once; the only tick allowed to have no run is one
    // skipped because the previous run was still going (a machine too busy to finish a
    // run within its second), and the host says so.
    let log = server.log();
    for tick in (0..4).map(|i| start + i * 1000) {
        let skipped = log
            .lines()
            .any(|line| line.contains("skipped a run") && line.contains(&format!("tick={tick}")));
        assert!(ticks.contains(&tick) || skipped, "{tick}: {runs:?}");
    }
    // At most one skip in four ticks: more would be a scheduler that sees runs going on
    // that are over.
    assert!(ticks.len() >= 3, "{runs:?}");
    let counts = log_of(&server, "seq/runs/tick/").await;
    for tick in ticks {
        assert_eq!(counts[&format!("seq/runs/tick/{tick}")], "1", "{counts:?}");
    }
}

#[tokio::test]
async fn a_slow_schedule_never_overlaps_itself() {
    let app = AppDir::new(&format!(
        "{APP}\n[[trigger.cron]]\nname = \"slow\"\nschedule = \"* * * * * *\"\ncomponent = \"worker\"\n"
    ));
    let server = app.start(1);
    let ended = wait_for_entries(&server, "cron-end/slow/", 2).await;
    let starts = log_of(&server, "cron/slow/").await;
    let mut runs: Vec<(u64, u64)> = ended
        .iter()
        .map(|(key, end)| {
            let tick = key.rsplit('/').next().expect("tick");
            (
                millis(&starts, &format!("cron/slow/{tick}")),
                end.parse().expect("end"),
            )
        })
        .collect();
    runs.sort();
    assert!(runs[0].1 <= runs[1].0, "runs overlapped: {runs:?}");
    let log = server.wait_for_log("skipped a run");
    assert!(log.contains("skipped a run"), "{log}");
}

#[test]
fn trigger_errors_name_the_line_and_the_key() {
    let check = |manifest: &str| {
        let app = AppDir::new(manifest);
        let output = app.run(&["check", app.path().to_str().expect("utf-8 path")]);
        assert!(!output.status.success(), "check must fail");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let no_handler = "[app]\nname = \"x\"\n\n[component.web]\nsource = \"{hello}\"\nroutes = [\"/\"]\n\n[[trigger.queue]]\nqueue = \"jobs\"\ncomponent = \"web\"\n";
    let stderr = check(no_handler);
    assert!(stderr.contains("nimbus.toml:8:"), "{stderr}");
    assert!(stderr.contains("trigger.queue"), "{stderr}");
    assert!(
        stderr.contains("does not export `nimbus:platform/event-handler`"),
        "{stderr}"
    );
    let bad_cron = "[app]\nname = \"x\"\n\n[component.w]\nsource = \"{events}\"\n\n[[trigger.cron]]\nname = \"n\"\nschedule = \"61 * * * *\"\ncomponent = \"w\"\n";
    let stderr = check(bad_cron);
    assert!(stderr.contains("nimbus.toml:7:"), "{stderr}");
    assert!(stderr.contains("schedule"), "{stderr}");
    let unknown = "[app]\nname = \"x\"\n\n[component.w]\nsource = \"{events}\"\n\n[[trigger.object]]\nbucket = \"nope\"\nevents = [\"created\"]\ncomponent = \"w\"\n";
    let stderr = check(unknown);
    assert!(stderr.contains("nimbus.toml:7:"), "{stderr}");
    assert!(stderr.contains("bucket `nope` is not declared"), "{stderr}");
}

#[tokio::test]
async fn object_uploads_and_deletes_start_the_handler_with_filters_applied() {
    let app = AppDir::new(&format!(
        "{APP}\n[bucket.uploads]\naccess = \"authenticated\"\n\n[[trigger.object]]\nbucket = \"uploads\"\nevents = [\"created\", \"deleted\"]\nprefix = \"in/\"\nsuffix = \".png\"\ncomponent = \"worker\"\n"
    ));
    let server = app.start(1);
    let user = crate::auth::signup(&server, "uploader@example.com").await;
    for key in ["in/a.png", "in/b.txt", "out/c.png"] {
        let status = crate::harness::upload(&server, &user.access, "uploads", key, "12345").await;
        assert_eq!(status, 200, "{key}");
    }
    let deleted = client()
        .delete(server.url("/storage/v1/object/uploads/in/a.png"))
        .bearer_auth(&user.access)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status().as_u16(), 200);
    let events = wait_for_entries(&server, "obj/", 2).await;
    let events: Vec<&str> = events.values().map(String::as_str).collect();
    assert_eq!(
        events,
        ["created uploads in/a.png 5", "deleted uploads in/a.png 0"],
        "only keys under in/ ending .png, in order"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(log_of(&server, "obj/").await.len(), 2);
}

#[test]
fn nimbus_invoke_runs_an_event_handler_from_a_fixture() {
    let app = AppDir::new(&format!(
        "{APP}\n[component.web]\nsource = \"{{hello}}\"\nroutes = [\"/hello\"]\n"
    ));
    let invoke = |component: &str, fixture: serde_json::Value| {
        let path = app.path().join("event.json");
        std::fs::write(&path, fixture.to_string()).expect("fixture");
        let output = app.run_on_data(&[
            "invoke",
            component,
            "--event",
            path.to_str().expect("utf-8 path"),
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("JSON result")
    };
    let ok = invoke(
        "worker",
        serde_json::json!({"type": "queue-message", "queue": "jobs", "body": "ok:local"}),
    );
    assert_eq!(ok, serde_json::json!({"result": "ok"}));
    let failed = invoke(
        "worker",
        serde_json::json!({"type": "queue-message", "queue": "jobs", "body": "fail:9:x", "attempt": 2}),
    );
    assert_eq!(failed["result"], "error");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("failing attempt 2")),
        "{failed}"
    );
    let kv = invoke(
        "worker",
        serde_json::json!({"type": "kv-changed", "store": "watched", "key": "k", "op": "delete"}),
    );
    assert_eq!(kv["result"], "ok");
    let not_a_handler = invoke("web", serde_json::json!({"type": "schedule", "name": "n"}));
    assert_eq!(not_a_handler["result"], "failed");
    assert!(
        not_a_handler["error"]
            .as_str()
            .is_some_and(|e| e.contains("does not export")),
        "{not_a_handler}"
    );
}

#[tokio::test]
async fn a_handler_feeding_its_own_queue_is_stopped_after_16_hops() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let secret = app.secret_key();
    let (status, _) = publish(&server, &secret, "jobs", "loop:jobs", "").await;
    assert_eq!(status, 202);
    let deadline = Instant::now() + Duration::from_secs(20);
    let dead = loop {
        let (status, _, dead) = send_json(
            client()
                .get(server.url("/admin/v1/dlq?queue=jobs.dead"))
                .bearer_auth(&secret),
        )
        .await;
        assert_eq!(status, 200, "{dead}");
        if dead.as_array().is_some_and(|d| !d.is_empty()) {
            break dead;
        }
        assert!(Instant::now() < deadline, "the loop never stopped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let reason = dead[0]["dead"]["reason"].as_str().expect("reason");
    assert!(reason.contains("chain of 17"), "{reason}");
    assert_eq!(dead[0]["hop"], 17);
    // The original publish and 16 hops ran; the 17th was stopped before it ran.
    let runs = log_of(&server, "seq/loop").await;
    assert_eq!(runs["seq/loop"], "17", "{runs:?}");
}

#[tokio::test]
async fn nimbus_cron_lists_schedules_and_runs_one_now() {
    let app = AppDir::new(&format!(
        "{APP}\n[[trigger.cron]]\nname = \"yearly\"\nschedule = \"0 0 1 1 *\"\ntimezone = \"Europe/Paris\"\ncomponent = \"worker\"\n"
    ));
    let server = app.start(1);
    let listed = app.run_on_data(&["cron", "list"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("yearly  `0 0 1 1 *` Europe/Paris  -> worker  last: never"),
        "{listed}"
    );
    assert!(
        listed.contains("-01-01T") || listed.contains("-12-31T23:00:00Z"),
        "{listed}"
    );
    let run = app.run_on_data(&["cron", "run", "yearly"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    wait_for_entries(&server, "cron/yearly/", 1).await;
    let unknown = app.run_on_data(&["cron", "run", "daily"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no schedule `daily`"));
    // And a message published from the command line reaches the running host.
    let published = app.run_on_data(&["queue", "publish", "jobs", "--body", "ok:from-cli"]);
    assert!(
        published.status.success(),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );
    wait_for_entries(&server, "ran/from-cli/", 1).await;
}

#[tokio::test]
async fn on_sigterm_a_running_handler_finishes_and_nothing_new_starts() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let secret = app.secret_key();
    publish(&server, &secret, "jobs", "sleep:1500:draining", "").await;
    wait_for_entries(&server, "ran/draining/", 1).await;
    let status = server.terminate(Duration::from_secs(20)).expect("it exits");
    assert!(status.success(), "{status:?}");
    // Published while no host runs: kept for the next one.
    let published = app.run_on_data(&["queue", "publish", "jobs", "--body", "ok:after"]);
    assert!(
        published.status.success(),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );
    let server = app.start(1);
    // Its handler had finished before the host exited: no second attempt was needed.
    let done = log_of(&server, "done/draining/").await;
    assert_eq!(done.keys().collect::<Vec<_>>(), ["done/draining/1"]);
    wait_for_entries(&server, "ran/after/", 1).await;
}
