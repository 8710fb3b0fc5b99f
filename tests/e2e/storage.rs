use crate::harness::{AppDir, get_json};

/// An app whose counter keeps its count in the key-value store.
pub(crate) const APP: &str = r#"
[app]
name = "storage"

[component.counter]
source = "{counter}"
routes = ["/count/..."]
key_value = ["counter"]
"#;

#[tokio::test]
async fn key_value_data_survives_a_restart() {
    let app = AppDir::new(APP);
    let server = app.start(2);
    for expected in 1..=2 {
        let (status, _, body) = get_json(&server.url("/count/visits")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["count"], expected);
    }
    // Killed, not shut down: a write that returned must already be durable.
    server.kill();
    let server = app.start(2);
    let (_, _, body) = get_json(&server.url("/count/visits")).await;
    assert_eq!(body["count"], 3);
    let (_, _, body) = get_json(&server.url("/count/other")).await;
    assert_eq!(body["count"], 1);
}

#[tokio::test]
async fn apps_do_not_see_each_others_data() {
    let first = AppDir::new(APP);
    let server = first.start(1);
    get_json(&server.url("/count/shared")).await;
    server.kill();
    // Same data directory, another app name.
    let second = AppDir::new(&APP.replace("name = \"storage\"", "name = \"other\""));
    std::fs::rename(first.data(), second.data()).expect("move data");
    let server = second.start(1);
    let (_, _, body) = get_json(&server.url("/count/shared")).await;
    assert_eq!(body["count"], 1);
}

#[test]
fn a_second_start_loads_compiled_code_from_the_cache() {
    let app = AppDir::new(APP);
    let path = app.path().to_str().expect("utf-8 path").to_string();
    let data = app.data();
    let data = data.to_str().expect("utf-8 path");
    // Its own cache, not the one the tests share, which may hold these components already.
    let cache = app.path().join("own-cache");
    let cache = cache.to_str().expect("utf-8 path");
    let check = ["check", &path, "--data", data, "--cache-dir", cache];
    let first = app.run(&check);
    assert!(first.status.success());
    let first_log = String::from_utf8_lossy(&first.stderr);
    assert!(first_log.contains("compiled component"), "{first_log}");
    let second = app.run(&check);
    let second_log = String::from_utf8_lossy(&second.stderr);
    assert!(
        second_log.contains("loaded compiled code from cache"),
        "{second_log}"
    );
    assert!(!second_log.contains("compiled component"), "{second_log}");
    // A cache entry changed behind the host's back is not loaded: it is compiled again.
    for entry in std::fs::read_dir(cache).expect("cache dir").flatten() {
        if entry.path().extension().is_some_and(|e| e == "cwasm") {
            let mut bytes = std::fs::read(entry.path()).expect("entry");
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x55;
            std::fs::write(entry.path(), bytes).expect("tamper");
        }
    }
    let third = app.run(&check);
    assert!(third.status.success());
    let third_log = String::from_utf8_lossy(&third.stderr);
    assert!(
        third_log.contains("failed its integrity check"),
        "{third_log}"
    );
    assert!(third_log.contains("compiled component"), "{third_log}");
}

#[tokio::test]
async fn worker_processes_share_one_key_value_store() {
    let app = AppDir::new(APP);
    let server = app.start_processes(3);
    let mut seen = Vec::new();
    let mut processes = std::collections::HashSet::new();
    for _ in 0..30 {
        let client = crate::harness::fresh_connection_client();
        let (status, request_id, body) =
            crate::harness::send_json(client.get(server.url("/count/shared"))).await;
        assert_eq!(status, 200, "{body}");
        seen.push(body["count"].as_i64().expect("count"));
        processes.insert(crate::harness::process_of(&request_id.expect("request id")));
    }
    assert_eq!(seen, (1..=30).collect::<Vec<i64>>());
    assert!(
        processes.len() >= 2,
        "one count sequence across processes needs more than one process: {processes:?}"
    );
    let log = server.log();
    assert!(log.contains("processes=3"), "{log}");
}

#[test]
fn worker_processes_end_with_their_supervisor() {
    let app = AppDir::new(APP);
    let server = app.start_processes(2);
    let address = server.base.trim_start_matches("http://").to_string();
    server.kill();
    let started = std::time::Instant::now();
    loop {
        if std::net::TcpStream::connect(&address).is_err() {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "a worker process is still accepting on {address}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[tokio::test]
async fn a_worker_process_that_dies_is_restarted() {
    let app = AppDir::new(APP);
    let server = app.start_processes(2);
    let before = server.worker_pids();
    assert_eq!(before.len(), 1, "one worker process besides the supervisor");
    let killed = std::process::Command::new("kill")
        .args(["-9", &before[0].to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let log = server.wait_for_log("worker process restarted");
    assert!(log.contains("worker process exited"), "{log}");
    assert!(log.contains("worker process restarted"), "{log}");
    let after = server.worker_pids();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, before);
    for _ in 0..20 {
        let client = crate::harness::fresh_connection_client();
        let (status, _, body) =
            crate::harness::send_json(client.get(server.url("/count/after-restart"))).await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn the_largest_key_value_operations_work_from_every_process() {
    let app = AppDir::new(
        r#"
[app]
name = "big"

[component.swap]
source = "{kv_swap}"
routes = ["/swap"]
key_value = ["big"]
"#,
    );
    let server = app.start_processes(2);
    let http = crate::harness::fresh_connection_client();
    // Just under the 16 MiB value limit: a compare-and-swap carries two of them.
    let size = (16 << 20) - 1024;
    let mut processes = std::collections::HashSet::new();
    for _ in 0..40 {
        let response = http
            .get(server.url(&format!("/swap?{size}")))
            .send()
            .await
            .expect("request");
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .expect("request id")
            .to_string();
        assert_eq!(response.status().as_u16(), 200);
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["swapped"], true, "{body}");
        assert_eq!(body["len"], size, "{body}");
        assert_eq!(body["new"], true, "{body}");
        // Request ids start with 8 hex digits of the process that served them.
        processes.insert(request_id[..8].to_string());
        if processes.len() == 2 {
            break;
        }
    }
    assert_eq!(processes.len(), 2, "both processes served");
}
