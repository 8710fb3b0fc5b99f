//! `rate_limit` on routes: the allowance holds across every worker process, a forged
//! `X-Forwarded-For` does not buy a fresh one, and a refusal is a 429 that says when to retry.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::harness::{AppDir, fresh_connection_client, process_of};

#[tokio::test]
async fn a_route_admits_its_allowance_across_processes_and_then_answers_429() {
    let app = AppDir::new(
        r#"
[app]
name = "limited"

[component.probe]
source = "{probe}"
routes = [
    { route = "/limited/...", rate_limit = { per = "ip", requests = 5, window = "1h" } },
    { route = "/other/...", rate_limit = { per = "ip", requests = 1, window = "1h" } },
    "/free/...",
]
"#,
    );
    let server = app.start_processes(2);
    let http = fresh_connection_client();
    let (mut admitted, mut refused, mut processes) = (0, 0, HashSet::new());
    let deadline = Instant::now() + Duration::from_secs(20);
    // Fresh connections land on either process; go on until both have answered.
    for forged in 0.. {
        if forged >= 12 && processes.len() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "one process answered every request"
        );
        let response = http
            .get(server.url("/limited/static"))
            .header("x-forwarded-for", format!("203.0.113.{forged}"))
            .send()
            .await
            .expect("answer");
        let id = response.headers()["x-request-id"].to_str().expect("id");
        processes.insert(process_of(id));
        match response.status().as_u16() {
            200 => admitted += 1,
            429 => {
                refused += 1;
                let headers = response.headers();
                let retry: u64 = headers["retry-after"]
                    .to_str()
                    .expect("retry-after")
                    .parse()
                    .expect("seconds");
                assert!((1..=720).contains(&retry), "retry after {retry}s");
                assert_eq!(headers["ratelimit-policy"], "\"route\";q=5;w=3600");
                assert_eq!(headers["ratelimit"], format!("\"route\";r=0;t={retry}"));
            }
            other => panic!("status {other}"),
        }
    }
    assert_eq!(admitted, 5, "{refused} refused");
    // Each route keeps its own allowances; HEAD draws on its GET route's.
    let head = http
        .head(server.url("/limited/static"))
        .send()
        .await
        .expect("answer");
    assert_eq!(head.status(), 429);
    let other = |http: &reqwest::Client| http.get(server.url("/other/static")).send();
    assert_eq!(other(&http).await.expect("answer").status(), 200);
    assert_eq!(other(&http).await.expect("answer").status(), 429);
    let free = http
        .get(server.url("/free/static"))
        .send()
        .await
        .expect("answer");
    assert_eq!(free.status(), 200);
}

#[tokio::test]
async fn a_limit_per_user_counts_each_user_apart() {
    let app = AppDir::new(
        r#"
[app]
name = "per-user"

[component.probe]
source = "{probe}"
routes = [
    { route = "/mine/...", auth = "required", rate_limit = { per = "user", requests = 2, window = "1h" } },
]
"#,
    );
    let server = app.start(1);
    let (ann, bob) = (
        crate::auth::signup(&server, "ann@example.com").await,
        crate::auth::signup(&server, "bob@example.com").await,
    );
    let http = crate::harness::client();
    let call = |token: &str| {
        http.get(server.url("/mine/static"))
            .bearer_auth(token)
            .send()
    };
    let mut statuses = Vec::new();
    for token in [
        &ann.access,
        &ann.access,
        &ann.access,
        &bob.access,
        &bob.access,
    ] {
        statuses.push(call(token).await.expect("answer").status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 200, 200]);
    // Requests whose token fails verification spend nothing of the user's allowance.
    let carol = crate::auth::signup(&server, "carol@example.com").await;
    let forged = format!("{}x", carol.access);
    for _ in 0..3 {
        assert_eq!(call(&forged).await.expect("answer").status(), 401);
    }
    assert_eq!(call(&carol.access).await.expect("answer").status(), 200);
    assert_eq!(call(&carol.access).await.expect("answer").status(), 200);
    assert_eq!(call(&carol.access).await.expect("answer").status(), 429);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_limited() {
    let app = AppDir::new(
        r#"
[app]
name = "proxied"
trusted_proxies = ["127.0.0.0/8"]

[component.probe]
source = "{probe}"
routes = [
    { route = "/limited/...", rate_limit = { per = "ip", requests = 1, window = "1h" } },
]
"#,
    );
    let server = app.start(1);
    let http = crate::harness::client();
    let from = |chain: &'static str| {
        http.get(server.url("/limited/static"))
            .header("x-forwarded-for", chain)
            .send()
    };
    let status = |response: reqwest::Response| response.status().as_u16();
    assert_eq!(status(from("198.51.100.1").await.expect("answer")), 200);
    assert_eq!(status(from("198.51.100.1").await.expect("answer")), 429);
    // Another client behind the proxy has its own allowance; an address the client put first
    // is not believed, and the proxy's own hops are skipped.
    assert_eq!(status(from("198.51.100.2").await.expect("answer")), 200);
    assert_eq!(
        status(
            from("203.0.113.50, 198.51.100.1, 127.0.0.2")
                .await
                .expect("answer")
        ),
        429
    );
}

#[tokio::test]
async fn the_auth_throttle_counts_the_client_a_trusted_proxy_names() {
    let app = AppDir::new(
        r#"
[app]
name = "proxied-auth"
trusted_proxies = ["127.0.0.1"]

[component.probe]
source = "{probe}"
routes = ["/probe/..."]
"#,
    );
    let server = app.start(1);
    let http = crate::harness::client();
    let refresh = |from: &'static str, attempt: u32| {
        http.post(server.url("/auth/v1/token?grant_type=refresh_token"))
            .header("x-forwarded-for", from)
            .json(&serde_json::json!({ "refresh_token": format!("nope.{attempt}") }))
            .send()
    };
    let mut throttled = false;
    for attempt in 0..60 {
        let response = refresh("198.51.100.1", attempt).await.expect("answer");
        if response.status().as_u16() == 429 {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "60 attempts from one client must be throttled");
    let other = refresh("198.51.100.2", 0).await.expect("answer");
    assert_eq!(
        other.status(),
        400,
        "another client behind the proxy is not throttled"
    );
    let again = refresh("198.51.100.1", 0).await.expect("answer");
    assert_eq!(again.status(), 429);
}

#[tokio::test]
async fn a_second_host_on_a_serving_data_directory_is_refused_and_leaves_its_limits_alone() {
    use std::os::unix::fs::MetadataExt;
    let app = AppDir::new(
        r#"
[app]
name = "limited"

[component.probe]
source = "{probe}"
routes = [{ route = "/limited/...", rate_limit = { per = "ip", requests = 5, window = "1h" } }]
"#,
    );
    let server = app.start_processes(2);
    let table = app.data().join("limits.shm");
    let shared = std::fs::metadata(&table)
        .expect("the host's rate-limit table")
        .ino();
    let (app_dir, data) = (app.path().to_string_lossy(), app.data());
    let second = app.run(&[
        "up",
        &app_dir,
        "--listen",
        "127.0.0.1:0",
        "--data",
        data.to_str().expect("path"),
        "--processes",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Database already open"), "{stderr}");
    // The worker processes the serving host starts again later map this file: a table made
    // by the refused host would give them an allowance apart from the others'.
    let after = std::fs::metadata(&table)
        .expect("the host's rate-limit table")
        .ino();
    assert_eq!(after, shared, "the refused host replaced the shared table");
    let status = fresh_connection_client()
        .get(server.url("/limited/static"))
        .send()
        .await
        .expect("answer")
        .status();
    assert_eq!(status, 200);
}
