use serde_json::Value;

use crate::harness::{AppDir, client, get_json, send_json};

const APP: &str = r#"
[app]
name = "routing"

[component.hello]
source = "{hello}"
routes = ["GET /hello"]

[component.router]
source = "{router}"
routes = ["/health", "/echo", "/api/..."]

[component.wasi-hello]
source = "{http_hello}"
routes = ["GET /wasi-hello"]

[component.probe]
source = "{probe}"
routes = ["/users/:id", "GET /users/:id/posts/:post", "/files/...", "/files/special", "/probe/..."]
config = { greeting = "hi" }
"#;

#[tokio::test]
async fn hello_answers_the_seed_json_with_a_request_id() {
    let app = AppDir::new(APP);
    let server = app.start(2);
    let (status, request_id, body) = get_json(&server.url("/hello")).await;
    assert_eq!(status, 200);
    assert!(request_id.is_some_and(|id| !id.is_empty()));
    assert_eq!(body["message"], "Hello, Serverless!");
    assert!(
        body["time"].as_str().is_some_and(|t| t.starts_with("20")),
        "{body}"
    );
}

#[tokio::test]
async fn router_serves_health_echo_and_its_own_json_404() {
    let app = AppDir::new(APP);
    let server = app.start(2);
    let (status, _, body) = get_json(&server.url("/health")).await;
    assert_eq!((status, body["ok"].as_bool()), (200, Some(true)));
    let (status, request_id, body) =
        send_json(client().post(server.url("/echo")).body(r#"{"n":42}"#)).await;
    assert_eq!(status, 200);
    assert_eq!(body["received"]["n"], 42);
    assert_eq!(body["requestId"].as_str(), request_id.as_deref());
    let (status, _, body) = get_json(&server.url("/api/nowhere")).await;
    assert_eq!(status, 404);
    assert_eq!(body["path"], "/api/nowhere");
    let (status, _, body) = send_json(client().post(server.url("/echo")).body("not json")).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn params_wildcards_and_the_most_specific_route() {
    let app = AppDir::new(APP);
    let server = app.start(2);
    let (status, _, body) = get_json(&server.url("/users/7?full=1")).await;
    assert_eq!(status, 200);
    assert_eq!(body["params"]["id"], "7");
    assert_eq!(body["query"], "full=1");
    let (_, _, body) = get_json(&server.url("/users/7/posts/42")).await;
    assert_eq!(
        (
            body["params"]["id"].as_str(),
            body["params"]["post"].as_str()
        ),
        (Some("7"), Some("42"))
    );
    let (_, _, body) = get_json(&server.url("/files/a/b/c.txt")).await;
    assert_eq!(body["params"]["..."], "a/b/c.txt");
    let (_, _, body) = get_json(&server.url("/files/special")).await;
    assert!(
        body["params"].as_object().is_some_and(|p| p.is_empty()),
        "{body}"
    );
    let (_, _, body) = get_json(&server.url("/probe/env")).await;
    assert_eq!(body["context"]["app"], "routing");
    assert_eq!(body["context"]["component"], "probe");
    assert_eq!(body["context"]["attempt"], 1);
    assert_eq!(body["context"]["startKind"], "StartKind::Fresh", "{body}");
    assert_eq!(body["context"]["trigger"], "TriggerKind::Http", "{body}");
    assert_eq!(body["context"]["traceParent"], Value::Null);
    assert_eq!(body["context"]["env"]["greeting"], "hi", "{body}");
    assert!(
        body["context"]["env"]
            .as_object()
            .is_some_and(|env| env.len() == 1),
        "only declared config: {body}"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_404_and_405() {
    let app = AppDir::new(APP);
    let server = app.start(2);
    let (status, request_id, body) = get_json(&server.url("/nope")).await;
    assert_eq!(status, 404);
    assert!(request_id.is_some());
    assert!(body["error"].as_str().is_some_and(|e| e.contains("/nope")));
    let response = client()
        .delete(server.url("/hello"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    let body: serde_json::Value = response.json().await.expect("json");
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn head_is_answered_on_get_routes_with_the_headers_and_no_body() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    for path in ["/hello", "/wasi-hello"] {
        let response = client()
            .head(server.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{path}"
        );
        assert!(response.headers().contains_key("x-request-id"), "{path}");
        assert!(response.bytes().await.expect("body").is_empty(), "{path}");
    }
}

#[tokio::test]
async fn route_params_are_percent_decoded() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let (status, _, body) = get_json(&server.url("/users/J%C3%BCrgen%20M")).await;
    assert_eq!(status, 200);
    assert_eq!(body["params"]["id"], "Jürgen M", "{body}");
    let (_, _, body) = get_json(&server.url("/files/a%20b/c.txt")).await;
    assert_eq!(body["params"]["..."], "a b/c.txt", "{body}");
}

#[tokio::test]
async fn a_wasi_http_component_runs_unchanged() {
    let app = AppDir::new(APP);
    let server = app.start(2);
    let (status, request_id, body) = get_json(&server.url("/wasi-hello")).await;
    assert_eq!(status, 200);
    assert!(request_id.is_some());
    assert_eq!(body["message"], "Hello, Serverless!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_requests_are_all_answered_correctly() {
    let app = AppDir::new(APP);
    let server = app.start(2);
    let http = client();
    let requests = (0..200).map(|i| {
        let request = http
            .post(server.url("/echo"))
            .body(format!(r#"{{"i":{i}}}"#));
        async move { (i, send_json(request).await) }
    });
    let answers = futures::future::join_all(requests).await;
    let mut ids = std::collections::HashSet::new();
    for (i, (status, request_id, body)) in answers {
        assert_eq!(status, 200);
        assert_eq!(body["received"]["i"], i);
        assert!(
            ids.insert(request_id.expect("request id")),
            "request ids must be unique"
        );
    }
}

#[tokio::test]
async fn no_state_survives_between_requests() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    for _ in 0..3 {
        let (_, _, body) = get_json(&server.url("/probe/static")).await;
        assert_eq!(body["calls"], 1, "a fresh instance per request");
    }
}

#[tokio::test]
async fn guest_output_goes_to_the_log_with_the_request_id() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let (status, request_id, _) = get_json(&server.url("/probe/print")).await;
    assert_eq!(status, 200);
    let request_id = request_id.expect("request id");
    let log = server.wait_for_log("probe says hello on stderr");
    let line = log
        .lines()
        .find(|l| l.contains("probe says hello on stdout"))
        .unwrap_or_else(|| panic!("stdout not logged:\n{log}"));
    assert!(line.contains(&request_id), "{line}");
}
