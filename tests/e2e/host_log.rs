//! The host log: one file for every process of a host, owner-only, that `nimbus logs` reads,
//! filters by component and follows.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{AppDir, fresh_connection_client, from_every_process, shared_cache_dir};

/// `nimbus logs --json ARGS` on `app`: its lines as JSON objects.
fn logs(app: &AppDir, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["logs", "--json"];
    all.extend_from_slice(args);
    let output = app.run_on_data(&all);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect()
}

fn field<'a>(line: &'a serde_json::Value, name: &str) -> &'a str {
    line[name].as_str().unwrap_or_default()
}

#[tokio::test]
async fn every_process_writes_to_one_log_that_nimbus_logs_filters_and_follows() {
    let app = AppDir::new(
        r#"
[app]
name = "logged"

[component.probe]
source = "{probe}"
routes = ["/p/..."]

[component.other]
source = "{hello}"
routes = ["/hello"]
"#,
    );
    let server = app.start_processes(2);
    let served = from_every_process(&server, "/p/print", 2, 200, 1).await;
    let http = fresh_connection_client();
    let response = http.get(server.url("/hello")).send().await.expect("answer");
    assert_eq!(response.status().as_u16(), 200);

    // Lines reach the file through a log thread (and, for workers, through the supervisor).
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let lines = logs(&app, &["--component", "probe"]);
        let logged: HashSet<&str> = lines
            .iter()
            .filter(|line| field(line, "target") == "nimbus::invocation")
            .map(|line| field(line, "request_id"))
            .collect();
        if served.iter().all(|id| logged.contains(id.as_str())) || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for id in &served {
        let invocation = lines
            .iter()
            .find(|line| {
                field(line, "target") == "nimbus::invocation" && field(line, "request_id") == id
            })
            .unwrap_or_else(|| panic!("no invocation line for {id}: {lines:#?}"));
        assert_eq!(field(invocation, "app"), "logged");
        assert_eq!(field(invocation, "method"), "GET");
        assert_eq!(field(invocation, "route"), "/p/...");
        assert_eq!(invocation["status"], 200);
        assert_eq!(invocation["attempt"], 1);
        assert!(invocation["micros"].as_u64().is_some());
        assert!(invocation["peak_memory"].as_u64().expect("peak memory") > 0);
        // The guest's own stderr line carries the same request id.
        assert!(
            lines.iter().any(|line| field(line, "request_id") == id
                && field(line, "message").contains("probe says hello on stderr")),
            "no guest line for {id}: {lines:#?}"
        );
    }
    // Only the component asked for.
    assert!(lines.iter().all(|line| field(line, "component") == "probe"));
    let everything = logs(&app, &[]);
    assert!(
        everything
            .iter()
            .any(|line| field(line, "component") == "other")
    );

    let file = app.data().join("logs/nimbus.log");
    let mode = std::fs::metadata(&file)
        .expect("log file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // --follow prints lines written after it started.
    let mut follower = Command::new(env!("CARGO_BIN_EXE_nimbus"))
        .args([
            "logs",
            "--follow",
            "--json",
            "--component",
            "probe",
            "--since",
            "1m",
        ])
        .arg("--app")
        .arg(app.path())
        .arg("--data")
        .arg(app.data())
        .env("NIMBUS_CACHE_DIR", shared_cache_dir())
        .stdout(Stdio::piped())
        .spawn()
        .expect("nimbus logs --follow");
    let stdout = follower.stdout.take().expect("stdout");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let response = http
        .get(server.url("/p/status?202"))
        .header("x-request-id", "followed-request-1")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status().as_u16(), 202);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = false;
    while !seen && Instant::now() < deadline {
        if let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(200)) {
            seen = line.contains("\"request_id\":\"followed-request-1\"")
                && line.contains("\"status\":202");
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(seen, "the followed log never showed the new request");
}
