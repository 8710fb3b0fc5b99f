//! `--log-format json`: every line the host writes to stderr, from every process, is one JSON
//! object; an invocation's line and its guest's output carry its request id.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{AppDir, fresh_connection_client, from_every_process};

#[tokio::test]
async fn every_process_logs_json_lines_with_the_request_id() {
    let app = AppDir::new(
        r#"
[app]
name = "logs"

[component.probe]
source = "{probe}"
routes = ["/probe/..."]
"#,
    );
    let server = app.start_configured(&["--processes", "2", "--log-format", "json"], |_| {});
    let ids = from_every_process(&server, "/probe/print", 2, 200, 1).await;
    let logged = |log: &str, id: &str, target: &str| {
        log.lines().any(|line| {
            serde_json::from_str::<Value>(line)
                .is_ok_and(|event| event["request_id"] == id && event["target"] == target)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let everything_logged = |log: &str| {
        ids.iter()
            .all(|id| logged(log, id, "nimbus::invocation") && logged(log, id, "guest"))
    };
    while !everything_logged(&server.log()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = server.log();
    assert!(everything_logged(&log), "{log}");
    for line in log.lines().filter(|line| !line.trim().is_empty()) {
        let event: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            event["timestamp"].is_string() && event["level"].is_string(),
            "{line}"
        );
    }
    let invocation = log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["target"] == "nimbus::invocation")
        .expect("an invocation line");
    assert_eq!(invocation["component"], "probe");
    assert_eq!(invocation["start"], "fresh");
    assert_eq!(invocation["status"], 200);
}

/// An invocation cut short (here by the end of the shutdown grace) is still logged, as
/// cancelled.
#[tokio::test]
async fn an_invocation_cut_short_is_logged_as_cancelled() {
    let app = AppDir::new(
        r#"
[app]
name = "cancelled"

[component.probe]
source = "{probe}"
routes = ["/probe/..."]
"#,
    );
    let server = app.start_configured(
        &[
            "--processes",
            "1",
            "--workers",
            "1",
            "--shutdown-grace",
            "1s",
        ],
        |_| {},
    );
    let http = fresh_connection_client();
    let slow = http
        .get(server.url("/probe/sleep?30000"))
        .header("x-request-id", "cut-at-shutdown")
        .send();
    let slow = tokio::spawn(slow);
    // Debug builds count the instances made on requests' paths: once a quick request sees
    // more than its own, the slow one is running.
    let deadline = Instant::now() + Duration::from_secs(10);
    for quick in 1.. {
        assert!(Instant::now() < deadline, "the slow request never started");
        let response = http
            .get(server.url("/probe/static"))
            .send()
            .await
            .expect("answer");
        let counts = response.headers()["x-nimbus-debug-instantiations"]
            .to_str()
            .expect("counts")
            .to_string();
        if counts.starts_with(&format!("request={}; ", quick + 1)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = server.log_handle();
    let status = server
        .terminate(Duration::from_secs(30))
        .expect("nimbus exited");
    assert!(status.success(), "{status}");
    assert!(
        slow.await.expect("task").is_err(),
        "the slow request was cut"
    );
    let cut = || {
        log().lines().any(|line| {
            line.contains(r#"request_id="cut-at-shutdown""#)
                && line.contains(r#"component="probe" trigger="http""#)
                && line.contains(r#"start="fresh" status=499 failure="cancelled""#)
        })
    };
    // The last lines may still be on their way through the pipe.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cut() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cut(), "{}", log());
}

/// The operator's filter holds for invocation lines with JSON too: with
/// `nimbus::invocation=off`, a request's guest output (a line on stdout, one on stderr) is
/// logged and its invocation line is not.
#[tokio::test]
async fn a_filter_that_turns_invocation_lines_off_holds_with_json() {
    let app = AppDir::new(
        r#"
[app]
name = "quiet"

[component.probe]
source = "{probe}"
routes = ["/probe/..."]
"#,
    );
    let server = app.start_configured(&["--processes", "1", "--log-format", "json"], |command| {
        command.env("NIMBUS_LOG", "info,nimbus::invocation=off");
    });
    let response = fresh_connection_client()
        .get(server.url("/probe/print"))
        .header("x-request-id", "filtered-invocation")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    let events = |target: &str| {
        server
            .log()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|event| {
                event["request_id"] == "filtered-invocation" && event["target"] == target
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while events("guest") < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(events("guest"), 2, "{}", server.log());
    assert_eq!(events("nimbus::invocation"), 0, "{}", server.log());
}
