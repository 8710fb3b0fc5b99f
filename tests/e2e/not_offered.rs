//! What nimbus does not offer of Supabase's API answers in the shape each client reads:
//! PostgREST's error for `/rest/v1`, GoTrue's (or a page) for `/auth/v1/authorize`, a refused
//! handshake for `/realtime/v1`. An app route under `/rest/v1` still wins.

use crate::harness::{AppDir, client, send_json};

const APP: &str = r#"
[app]
name = "moving"

[component.hello]
source = "{hello}"
routes = ["GET /rest/v1/hello"]
"#;

#[tokio::test]
async fn rest_answers_postgrests_error_shape_unless_an_app_route_claims_it() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let (status, _, body) = send_json(client().get(server.url("/rest/v1/todos?select=*"))).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "PGRST205");
    assert_eq!(
        body["message"],
        "nimbus has no SQL database, so there is no table `todos`"
    );
    assert!(
        body["details"].is_string() && body["hint"].is_string(),
        "{body}"
    );
    let (status, _, body) = send_json(
        client()
            .post(server.url("/rest/v1/rpc/add_todo"))
            .json(&serde_json::json!({ "title": "x" })),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("PGRST202")),
        "{body}"
    );
    // The app's own route under /rest/v1 answers, not the refusal.
    let (status, _, body) = send_json(client().get(server.url("/rest/v1/hello"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Hello, Serverless!");
    // A neighbouring path is an ordinary 404, not PostgREST's.
    let (status, _, body) = send_json(client().get(server.url("/rest/v10/todos"))).await;
    assert_eq!(status, 404);
    assert!(body.get("code").is_none(), "{body}");
}

#[tokio::test]
async fn oauth_sign_in_says_no_provider_is_configured() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let url = server.url("/auth/v1/authorize?provider=github&redirect_to=http://localhost:3000");
    let (status, _, body) = send_json(client().get(&url)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_code"], "validation_failed");
    assert_eq!(body["providers"], serde_json::json!([]));
    assert!(
        body["msg"]
            .as_str()
            .is_some_and(|msg| msg.contains("no OAuth providers configured")),
        "{body}"
    );
    let page = client()
        .get(&url)
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("page");
    assert_eq!(page.status().as_u16(), 400);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/html"))
    );
    let text = page.text().await.expect("body");
    assert!(text.contains("Configured providers: none."), "{text}");
}

#[tokio::test]
async fn the_realtime_handshake_is_refused_with_a_reason() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let (status, _, body) = send_json(
        client()
            .get(server.url("/realtime/v1/websocket?apikey=x&vsn=1.0.0"))
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    )
    .await;
    assert_eq!(status, 501, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("nimbus has no realtime server")),
        "{body}"
    );
}
