//! `[component.NAME.instances]`: warm instances that serve several requests of their own
//! component, dropped after `reuse` requests, after a failure, or when idle; provisioned
//! instances made before any request; and isolation between components that share code.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{AppDir, Server, get_json};

/// `(calls, start kind)` of one sequential request to a counting route.
async fn count(server: &Server, path: &str) -> (u64, String) {
    let (status, _, body) = get_json(&server.url(path)).await;
    assert_eq!(status, 200, "{path}: {body}");
    let calls = body["calls"].as_u64().unwrap_or_default();
    let kind = match &body["startKind"] {
        Value::String(kind) => kind.trim_start_matches("StartKind::").to_lowercase(),
        other => panic!("{path}: no start kind in {other}"),
    };
    (calls, kind)
}

async fn counts(server: &Server, path: &str, times: usize) -> Vec<(u64, String)> {
    let mut seen = Vec::new();
    for _ in 0..times {
        seen.push(count(server, path).await);
    }
    seen
}

/// An app named `name` whose one component, also `name`, is the probe on `/name/...`, with
/// `sections` (its `[component.NAME.*]` tables, `NAME` standing for its name) after it.
fn probe_app(name: &str, sections: &str) -> AppDir {
    AppDir::new(&format!(
        "[app]\nname = \"{name}\"\n[component.{name}]\nsource = \"{{probe}}\"\nroutes = [\"/{name}/...\"]\n{}",
        sections.replace("NAME", name)
    ))
}

fn expected(pairs: &[(u64, &str)]) -> Vec<(u64, String)> {
    pairs.iter().map(|(n, k)| (*n, k.to_string())).collect()
}

#[tokio::test]
async fn a_warm_instance_serves_reuse_requests_then_a_fresh_one_starts() {
    let app = AppDir::new(
        r#"
[app]
name = "warm"

[component.warm]
source = "{probe}"
routes = ["/warm/..."]
[component.warm.instances]
reuse = 3

[component.fresh]
source = "{probe}"
routes = ["/fresh/..."]
"#,
    );
    let server = app.start(1);
    assert_eq!(
        counts(&server, "/warm/static", 6).await,
        expected(&[
            (1, "fresh"),
            (2, "warm"),
            (3, "warm"),
            (1, "fresh"),
            (2, "warm"),
            (3, "warm"),
        ])
    );
    assert_eq!(
        counts(&server, "/fresh/static", 3).await,
        expected(&[(1, "fresh"), (1, "fresh"), (1, "fresh")])
    );
    // Each invocation's log line tells its start kind too (the log reaches the test through a
    // pipe: wait for it with a deadline).
    let lines = |log: &str, component: &str, start: &str| {
        log.lines()
            .filter(|line| line.contains("nimbus::invocation: invoked"))
            .filter(|line| line.contains(&format!("component=\"{component}\"")))
            .filter(|line| line.contains(&format!("start=\"{start}\" status=200")))
            .count()
    };
    let logged = |log: &str| {
        [
            lines(log, "warm", "fresh"),
            lines(log, "warm", "warm"),
            lines(log, "fresh", "fresh"),
        ]
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while logged(&server.log()) != [2, 4, 3] && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = server.log();
    assert_eq!(logged(&log), [2, 4, 3], "{log}");
}

#[tokio::test]
async fn a_failure_drops_the_warm_instance_and_only_its_request_fails() {
    let app = probe_app(
        "warm",
        r#"
[component.NAME.limits]
timeout = "1s"
memory = "32MiB"
[component.NAME.instances]
reuse = 1000
"#,
    );
    let server = app.start(1);
    for (failure, status) in [("panic", 500), ("spin", 504), ("alloc", 500)] {
        assert_eq!(
            counts(&server, "/warm/static", 2).await,
            expected(&[(1, "fresh"), (2, "warm")]),
            "before /{failure}"
        );
        let (got, _, body) = get_json(&server.url(&format!("/warm/{failure}"))).await;
        assert_eq!(got, status, "/{failure}: {body}");
    }
    assert_eq!(count(&server, "/warm/static").await, (1, "fresh".into()));
}

#[tokio::test]
async fn wasi_http_components_are_kept_warm_too() {
    let app = AppDir::new(
        r#"
[app]
name = "warm"

[component.counter]
source = "{http_counter}"
routes = ["/..."]
[component.counter.instances]
reuse = 3
"#,
    );
    let server = app.start(1);
    assert_eq!(
        counts(&server, "/count", 4).await,
        expected(&[(1, "fresh"), (2, "warm"), (3, "warm"), (1, "fresh")])
    );
    let (status, _, body) = get_json(&server.url("/trap")).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(count(&server, "/count").await, (1, "fresh".into()));
    // A guest that holds on to its request is not kept: the request must not outlive itself.
    assert_eq!(count(&server, "/keep").await, (2, "warm".into()));
    assert_eq!(count(&server, "/count").await, (1, "fresh".into()));
}

#[tokio::test]
async fn an_idle_component_scales_to_zero_and_starts_cold() {
    let app = probe_app(
        "warm",
        r#"
[component.NAME.instances]
reuse = 1000
idle_timeout = "1s"
"#,
    );
    let server = app.start(1);
    assert_eq!(
        counts(&server, "/warm/static", 2).await,
        expected(&[(1, "fresh"), (2, "warm")])
    );
    // Each look waits longer than the timeout, so that looking does not keep it warm.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let (calls, kind) = count(&server, "/warm/static").await;
        if calls == 1 {
            // Its instance and its compiled code went together: the code is loaded again.
            assert_eq!(kind, "cold");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the idle instance was never dropped"
        );
    }
}

#[tokio::test]
async fn provisioned_instances_are_ready_before_requests_and_refilled_after() {
    let app = AppDir::new(
        r#"
[app]
name = "provisioned"

[component.ready]
source = "{probe}"
routes = ["/ready/..."]
[component.ready.instances]
min = 2
"#,
    );
    let server = app.start(1);
    let http = crate::harness::client();
    // One request: its start kind, and the process' instantiations on requests' paths and
    // ahead of them once it was answered (debug builds report them).
    let request = || async {
        let response = http
            .get(server.url("/ready/static"))
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), 200);
        let counts = response
            .headers()
            .get("x-nimbus-debug-instantiations")
            .expect("debug builds of nimbus send their instantiation counts")
            .to_str()
            .expect("counts")
            .to_string();
        let body: Value = response.json().await.expect("json");
        assert_eq!(
            body["calls"], 1,
            "a provisioned instance in fresh mode is used once"
        );
        let kind = body["startKind"].as_str().unwrap_or_default();
        let kind = kind.trim_start_matches("StartKind::").to_lowercase();
        let count = |name: &str| -> u64 {
            counts
                .split("; ")
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {counts}"))
        };
        (kind, count("request"), count("ahead"))
    };
    // Provisioning starts once the server listens: wait for it with a deadline. Requests are
    // one at a time on one process, so each made at most one instance on its path: a
    // provisioned one made none, a fresh one exactly one.
    let provisioned = |deadline: Instant| async move {
        let (mut made_on_requests, mut found) = (None, 0);
        while found < 2 {
            let (kind, on_request, ahead) = request().await;
            if let Some(before) = made_on_requests {
                let made = on_request - before;
                match kind.as_str() {
                    "provisioned" => assert_eq!(made, 0, "an instance was made on the path"),
                    "fresh" => assert_eq!(made, 1),
                    other => panic!("start kind {other}"),
                }
            }
            if kind == "provisioned" {
                found += 1;
                assert!(ahead >= 2, "{ahead} instances made ahead");
            }
            made_on_requests = Some(on_request);
            assert!(
                Instant::now() < deadline,
                "requests did not find two provisioned instances"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    provisioned(Instant::now() + Duration::from_secs(10)).await;
    let burst: Vec<_> = (0..8)
        .map(|_| {
            let url = server.url("/ready/static");
            tokio::spawn(async move { get_json(&url).await.0 })
        })
        .collect();
    for request in burst {
        assert_eq!(request.await.expect("request"), 200);
    }
    provisioned(Instant::now() + Duration::from_secs(10)).await;
}

#[tokio::test]
async fn warm_instances_of_one_code_never_share_globals_or_grants() {
    let app = AppDir::new(
        r#"
[app]
name = "shared"

[component.a]
source = "{probe}"
routes = ["/a/..."]
[component.a.instances]
reuse = 1000

[component.b]
source = "{probe}"
routes = ["/b/..."]
[component.b.instances]
reuse = 1000

[component.granted]
source = "{kv_swap}"
routes = ["/granted/..."]
key_value = ["big"]
[component.granted.instances]
reuse = 1000

[component.other]
source = "{kv_swap}"
routes = ["/other/..."]
key_value = ["other"]
[component.other.instances]
reuse = 1000
"#,
    );
    let server = app.start(1);
    assert_eq!(
        counts(&server, "/a/static", 3).await,
        expected(&[(1, "fresh"), (2, "warm"), (3, "warm")])
    );
    assert_eq!(count(&server, "/b/static").await, (1, "fresh".into()));
    for _ in 0..3 {
        let (status, _, body) = get_json(&server.url("/granted/set?k&v")).await;
        assert_eq!(status, 200, "{body}");
        // kv-swap always opens store `big`, which only `granted` may open.
        let (status, _, body) = get_json(&server.url("/other/get?k")).await;
        assert_eq!(status, 500, "{body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains("AccessDenied"), "{body}");
    }
    let (status, _, body) = get_json(&server.url("/granted/get?k")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"], "v");
}

#[tokio::test]
async fn a_warm_instance_logs_each_request_under_its_own_id() {
    let app = probe_app(
        "warm",
        r#"
[component.NAME.instances]
reuse = 1000
"#,
    );
    let server = app.start(1);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, request_id, body) = get_json(&server.url("/warm/print-id")).await;
        assert_eq!(status, 200, "{body}");
        ids.push(request_id.expect("request id"));
    }
    for id in &ids {
        let printed = format!("probe serves {id}");
        let log = server.wait_for_log(&printed);
        let line = log
            .lines()
            .find(|line| line.contains(&printed))
            .unwrap_or_else(|| panic!("the output of {id} was not logged:\n{log}"));
        let others = ids.iter().filter(|other| *other != id);
        assert!(
            line.matches(id.as_str()).count() == 2
                && others.clone().all(|o| !line.contains(o.as_str())),
            "{line}"
        );
    }
}
