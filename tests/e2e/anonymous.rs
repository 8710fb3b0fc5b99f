//! `signInAnonymously`: off unless `[auth] anonymous = true`, and then a user without email
//! who becomes permanent by adding an email and a password.

use serde_json::{Value, json};

use crate::auth::{PASSWORD, claims_of, login, session_of};
use crate::harness::{AppDir, Server, client, send_json};

const APP: &str = r#"
[app]
name = "guests"

[component.probe]
source = "{probe}"
routes = [{ route = "/private/...", auth = "required" }]
"#;

async fn sign_in_anonymously(server: &Server) -> (u16, Value) {
    // What auth-js sends: a signup with only `data`.
    let (status, _, body) = send_json(
        client()
            .post(server.url("/auth/v1/signup"))
            .json(&json!({ "data": { "nickname": "visitor" } })),
    )
    .await;
    (status, body)
}

#[tokio::test]
async fn anonymous_sign_in_is_off_unless_the_manifest_enables_it() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let (status, body) = sign_in_anonymously(&server).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_code"], "anonymous_provider_disabled");
    assert!(
        body["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("anonymous = true"),
        "{body}"
    );
    let (_, _, settings) = send_json(client().get(server.url("/auth/v1/settings"))).await;
    assert_eq!(settings["external"]["anonymous_users"], false);
}

#[tokio::test]
async fn an_anonymous_user_becomes_permanent_with_an_email_and_password() {
    let app = AppDir::new(&APP.replace(
        "[component.probe]",
        "[auth]\nanonymous = true\n\n[component.probe]",
    ));
    let server = app.start(1);
    let (_, _, settings) = send_json(client().get(server.url("/auth/v1/settings"))).await;
    assert_eq!(settings["external"]["anonymous_users"], true);
    let (status, body) = sign_in_anonymously(&server).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["is_anonymous"], true);
    assert_eq!(body["user"]["email"], "");
    assert_eq!(body["user"]["user_metadata"]["nickname"], "visitor");
    let session = session_of(&body);
    let claims = claims_of(&session.access);
    assert_eq!(claims["is_anonymous"], true);
    assert_eq!(
        claims.get("email").cloned().unwrap_or(Value::Null),
        Value::Null
    );

    // An anonymous user is a signed-in user to the app's routes.
    let (status, _, probe) = send_json(
        client()
            .get(server.url("/private/x"))
            .bearer_auth(&session.access),
    )
    .await;
    assert_eq!(status, 200, "{probe}");
    assert_eq!(
        probe["context"]["identity"]["userId"],
        session.user_id.as_str()
    );

    let update = |body: Value| {
        send_json(
            client()
                .put(server.url("/auth/v1/user"))
                .bearer_auth(&session.access)
                .json(&body),
        )
    };
    let (status, _, body) = update(json!({ "password": PASSWORD })).await;
    assert_eq!(status, 422, "a password needs an email first: {body}");
    let (status, _, body) =
        update(json!({ "email": "visitor@example.com", "password": PASSWORD })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["is_anonymous"], false);
    assert_eq!(body["email"], "visitor@example.com");
    assert_eq!(body["id"], session.user_id.as_str());

    let (status, body) = login(&server, "visitor@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let permanent = session_of(&body);
    assert_eq!(permanent.user_id, session.user_id);
    assert_eq!(claims_of(&permanent.access)["is_anonymous"], false);

    // Two anonymous users cannot claim the same email.
    let (_, other) = sign_in_anonymously(&server).await;
    let other = session_of(&other);
    let (status, _, body) = send_json(
        client()
            .put(server.url("/auth/v1/user"))
            .bearer_auth(&other.access)
            .json(&json!({ "email": "visitor@example.com" })),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_code"], "user_already_exists");
}
