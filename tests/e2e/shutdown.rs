//! SIGTERM stops a host gracefully: every process, the supervisor and its workers, lets the
//! requests it is serving finish within `--shutdown-grace`, then exits.

use std::collections::HashSet;
use std::time::Duration;

use crate::harness::{AppDir, fresh_connection_client};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_in_flight_in_every_process_finish_after_sigterm() {
    let app = AppDir::new(
        r#"
[app]
name = "drain"

[component.probe]
source = "{probe}"
routes = ["/probe/..."]
"#,
    );
    let server = app.start_configured(&["--processes", "2", "--shutdown-grace", "20s"], |_| {});
    let workers = server.worker_pids();
    assert_eq!(
        workers.len(),
        1,
        "one worker process besides the supervisor"
    );
    let http = fresh_connection_client();
    let requests: Vec<_> = (0..12)
        .map(|_| {
            let request = http.get(server.url("/probe/sleep?6000")).send();
            tokio::spawn(async move {
                let response = request.await.expect("an answer, not a cut connection");
                let id = response.headers()["x-request-id"]
                    .to_str()
                    .expect("request id")
                    .to_string();
                (response.status().as_u16(), id)
            })
        })
        .collect();
    // The requests are accepted within moments; each then sleeps for 6 s in its guest.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let log = server.log_handle();
    let stopping = tokio::task::spawn_blocking(move || server.terminate(Duration::from_secs(60)));
    // Both processes begin to drain at once, while the requests are still running (the
    // worker's stderr is the host's).
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while log().matches("shutting down").count() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        log().matches("shutting down").count(),
        2,
        "the worker was told to stop with the supervisor: {}",
        log()
    );
    let mut processes = HashSet::new();
    for request in requests {
        let (status, id) = request.await.expect("task");
        assert_eq!(status, 200);
        processes.insert(id[..8].to_string());
    }
    assert_eq!(
        processes.len(),
        2,
        "both processes were serving when SIGTERM came"
    );
    let status = stopping.await.expect("task").expect("nimbus exited");
    assert!(status.success(), "{status}");
    for pid in workers {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} still runs"
        );
    }
}

/// A host stopped by SIGTERM closes its key-value store, so the next start finds it clean and
/// need not repair it (a repair reads the whole file, a cost that grows with the data); one
/// killed outright leaves it to repair, which the next start says.
#[tokio::test]
async fn a_graceful_stop_leaves_the_store_closed_and_a_kill_does_not() {
    const REPAIRED: &str = "not closed cleanly";
    let app = AppDir::new(
        r#"
[app]
name = "closing"

[component.kv]
source = "{kv_swap}"
routes = ["/..."]
key_value = ["big"]
"#,
    );
    let http = crate::harness::client();
    let write = |server: &crate::harness::Server| http.get(server.url("/set?note&kept")).send();

    let server = app.start(2);
    assert_eq!(write(&server).await.expect("answer").status(), 200);
    let status = server
        .terminate(Duration::from_secs(30))
        .expect("nimbus exited");
    assert!(status.success(), "{status}");

    let server = app.start(2);
    let response = write(&server).await.expect("answer");
    assert_eq!(response.status(), 200);
    // The log reaches the test through a pipe: a warning at start-up comes before the line of
    // this request, so once that line is there, so would the warning be.
    let id = response.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_string();
    let invoked = format!("invoked request_id=\"{id}\"");
    let log = server.wait_for_log(&invoked);
    assert!(log.contains(&invoked), "{log}");
    assert!(
        !log.contains(REPAIRED),
        "a start after a graceful stop repaired the store: {log}"
    );
    server.kill();

    let server = app.start(2);
    let log = server.wait_for_log(REPAIRED);
    assert!(
        log.contains(REPAIRED),
        "a start after a kill did not repair: {log}"
    );
}
