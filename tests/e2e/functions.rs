//! `[app] functions`: a component reached at `/functions/v1/NAME/...` as supabase-js'
//! `functions.invoke` calls it, with the caller's identity when a token is sent and the
//! component's `auth_required` honoured.

use serde_json::json;

use crate::auth::signup;
use crate::harness::{AppDir, client, send_json};

const APP: &str = r#"
[app]
name = "edge"
functions = ["probe", "members"]

[component.probe]
source = "{probe}"

[component.members]
source = "{probe}"
auth_required = true
"#;

#[tokio::test]
async fn a_function_is_invoked_as_supabase_js_calls_it() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let publishable = app.run_on_data(&["keys", "show"]);
    let publishable = String::from_utf8_lossy(&publishable.stdout)
        .trim()
        .to_string();
    assert!(!publishable.is_empty());

    // Signed out, supabase-js sends the publishable key as the bearer: no identity.
    let (status, _, body) = send_json(
        client()
            .post(server.url("/functions/v1/probe"))
            .header("apikey", &publishable)
            .bearer_auth(&publishable)
            .json(&json!({ "name": "Ann" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "/functions/v1/probe");
    assert_eq!(body["method"], "POST");
    assert_eq!(body["body"], r#"{"name":"Ann"}"#);
    assert_eq!(body["context"]["identity"], serde_json::Value::Null);

    // Signed in: the user's identity, and the path below the function reaches it too.
    let ann = signup(&server, "ann@example.com").await;
    let (status, _, body) = send_json(
        client()
            .get(server.url("/functions/v1/probe/reports/7?full=1"))
            .bearer_auth(&ann.access),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "/functions/v1/probe/reports/7");
    assert_eq!(body["context"]["identity"]["userId"], ann.user_id.as_str());

    // A bad token is refused, not taken for no token.
    let (status, _, _) = send_json(
        client()
            .get(server.url("/functions/v1/probe"))
            .bearer_auth("not-a-token"),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_function_of_a_component_that_requires_auth_needs_a_token() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let (status, _, _) = send_json(client().post(server.url("/functions/v1/members"))).await;
    assert_eq!(status, 401);
    let ann = signup(&server, "ann@example.com").await;
    let (status, _, body) = send_json(
        client()
            .post(server.url("/functions/v1/members"))
            .bearer_auth(&ann.access),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["context"]["identity"]["email"], "ann@example.com");
    // A component that is not a function has no such route.
    let (status, _, _) = send_json(client().post(server.url("/functions/v1/nobody"))).await;
    assert_eq!(status, 404);
}
