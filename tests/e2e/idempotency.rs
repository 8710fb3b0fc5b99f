//! `idempotency = true`: an `Idempotency-Key` makes a write run once; a retry gets the kept
//! answer, a duplicate while the first runs gets 409, another request under the same key 422,
//! and a 5xx is not kept. One caller never sees another's answer.

use crate::harness::{AppDir, client};

const APP: &str = r#"
[app]
name = "payments"

[component.worker]
source = "{events}"
routes = [{ route = "/events/...", auth = "optional" }]
key_value = ["log", "watched"]
queues = ["jobs"]
idempotency = true

[component.plain]
source = "{events}"
routes = ["/plain/..."]
key_value = ["log", "watched"]
queues = ["jobs"]
"#;

async fn post(
    server: &crate::harness::Server,
    path: &str,
    key: Option<&str>,
    body: &str,
    authorization: Option<String>,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let mut request = client().post(server.url(path)).body(body.to_string());
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

#[tokio::test]
async fn a_key_runs_a_write_once_and_replays_its_answer() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let (status, headers, first) =
        post(&server, "/events/count/pay", Some("k-1"), "100 EUR", None).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["count"], 1);
    assert!(headers.get("idempotent-replayed").is_none());
    let (status, headers, again) =
        post(&server, "/events/count/pay", Some("k-1"), "100 EUR", None).await;
    assert_eq!(status, 201);
    assert_eq!(again, first, "the kept answer, not a second run");
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(
        headers["x-counted"], "1",
        "the guest's own headers are kept"
    );
    assert!(
        headers.contains_key("x-request-id"),
        "a replay has its own request id"
    );
    // Another key runs again; no key runs every time.
    let (_, _, other) = post(&server, "/events/count/pay", Some("k-2"), "100 EUR", None).await;
    assert_eq!(other["count"], 2);
    let (_, _, unkeyed) = post(&server, "/events/count/pay", None, "100 EUR", None).await;
    assert_eq!(unkeyed["count"], 3);
    // The same key with another body (or path) is a mistake: 422.
    let (status, _, changed) =
        post(&server, "/events/count/pay", Some("k-1"), "999 EUR", None).await;
    assert_eq!(status, 422, "{changed}");
    let (status, _, _) = post(&server, "/events/count/other", Some("k-1"), "100 EUR", None).await;
    assert_eq!(status, 422);
    // Components without `idempotency` ignore the header.
    let (_, _, plain1) = post(&server, "/plain/count/x", Some("k-9"), "", None).await;
    let (_, _, plain2) = post(&server, "/plain/count/x", Some("k-9"), "", None).await;
    assert_eq!(
        (plain1["count"].clone(), plain2["count"].clone()),
        (1.into(), 2.into())
    );
    // A bad key is refused.
    let (status, _, _) = post(
        &server,
        "/events/count/pay",
        Some(&"x".repeat(300)),
        "",
        None,
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_duplicate_while_running_gets_409_and_a_5xx_is_not_kept() {
    let app = AppDir::new(APP);
    let server = app.start(2);
    let slow = post(
        &server,
        "/events/count/slow?sleep=1500",
        Some("k-slow"),
        "",
        None,
    );
    let duplicate = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        post(
            &server,
            "/events/count/slow?sleep=1500",
            Some("k-slow"),
            "",
            None,
        )
        .await
    };
    let ((first, _, body), (second, _, conflict)) = tokio::join!(slow, duplicate);
    assert_eq!(first, 201, "{body}");
    assert_eq!(second, 409, "{conflict}");
    // A failed answer is not kept: the retry runs again.
    let (status, _, failed) =
        post(&server, "/events/count/flaky?fail", Some("k-f"), "", None).await;
    assert_eq!(status, 500, "{failed}");
    let (status, _, retried) =
        post(&server, "/events/count/flaky?fail", Some("k-f"), "", None).await;
    assert_eq!(status, 500);
    assert_eq!(retried["count"], 2, "ran again");
}

#[tokio::test]
async fn one_caller_never_gets_another_callers_answer() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let alice = crate::auth::signup(&server, "alice@example.com").await;
    let bob = crate::auth::signup(&server, "bob@example.com").await;
    let as_user = |token: &str| Some(format!("Bearer {token}"));
    let (_, _, first) = post(
        &server,
        "/events/count/c",
        Some("shared"),
        "x",
        as_user(&alice.access),
    )
    .await;
    let (_, headers, other) = post(
        &server,
        "/events/count/c",
        Some("shared"),
        "x",
        as_user(&bob.access),
    )
    .await;
    assert_eq!(
        (first["count"].clone(), other["count"].clone()),
        (1.into(), 2.into())
    );
    assert!(headers.get("idempotent-replayed").is_none());
    // Without a token the caller is its address: not Alice either, whatever header it copies.
    let (_, headers, anonymous) = post(&server, "/events/count/c", Some("shared"), "x", None).await;
    assert_eq!(anonymous["count"], 3);
    assert!(headers.get("idempotent-replayed").is_none());
    let (_, headers, again) = post(
        &server,
        "/events/count/c",
        Some("shared"),
        "x",
        as_user(&alice.access),
    )
    .await;
    assert_eq!(again["count"], 1);
    assert_eq!(headers["idempotent-replayed"], "true");
}

#[tokio::test]
async fn a_client_that_leaves_midway_still_finds_the_answer_kept() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .expect("client");
    let gave_up = impatient
        .post(server.url("/events/count/slow?sleep=1000"))
        .header("idempotency-key", "k-leave")
        .send()
        .await;
    assert!(gave_up.is_err(), "the client timed out");
    // The write ran to its end: the retry waits for it (409 meanwhile), then gets its answer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, headers, body) = post(
            &server,
            "/events/count/slow?sleep=1000",
            Some("k-leave"),
            "",
            None,
        )
        .await;
        if status == 201 {
            assert_eq!(body["count"], 1, "it ran once");
            assert_eq!(headers["idempotent-replayed"], "true");
            break;
        }
        assert_eq!(status, 409, "{body}");
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
