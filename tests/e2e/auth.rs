//! `/auth/v1` over real HTTP, route guards, and the `auth` guest interfaces.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::harness::{AppDir, Server, client, send_json};

pub const PASSWORD: &str = "correct horse battery";

/// A signed-in user.
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
}

pub async fn signup(server: &Server, email: &str) -> Session {
    let (status, _, body) = send_json(
        client()
            .post(server.url("/auth/v1/signup"))
            .json(&json!({ "email": email, "password": PASSWORD })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    session_of(&body)
}

pub fn session_of(body: &Value) -> Session {
    Session {
        access: body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string(),
        refresh: body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_string(),
        user_id: body["user"]["id"].as_str().expect("user id").to_string(),
    }
}

pub async fn login(server: &Server, email: &str, password: &str) -> (u16, Value) {
    let (status, _, body) = send_json(
        client()
            .post(server.url("/auth/v1/token?grant_type=password"))
            .json(&json!({ "email": email, "password": password })),
    )
    .await;
    (status, body)
}

pub async fn refresh(server: &Server, token: &str) -> (u16, Value) {
    let (status, _, body) = send_json(
        client()
            .post(server.url("/auth/v1/token?grant_type=refresh_token"))
            .json(&json!({ "refresh_token": token })),
    )
    .await;
    (status, body)
}

async fn get_user(server: &Server, token: &str) -> (u16, Value) {
    let (status, _, body) =
        send_json(client().get(server.url("/auth/v1/user")).bearer_auth(token)).await;
    (status, body)
}

const GUARDED: &str = r#"
[app]
name = "guarded"

[component.probe]
source = "{probe}"
routes = [
    { route = "/private/...", auth = "required" },
    { route = "/maybe/...", auth = "optional" },
    "/open/...",
]
"#;

#[tokio::test]
async fn signup_login_refresh_and_logout() {
    let app = AppDir::new(GUARDED);
    let server = app.start(2);
    let (status, _, body) = send_json(client().post(server.url("/auth/v1/signup")).json(
        &json!({ "email": " Ann@Example.com ", "password": PASSWORD, "data": { "name": "Ann" } }),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["email"], "ann@example.com");
    assert_eq!(body["user"]["user_metadata"]["name"], "Ann");
    assert!(body["user"].get("password_hash").is_none());

    let (status, body) = login(&server, "ANN@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let session = session_of(&body);
    let (status, user) = get_user(&server, &session.access).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["id"], session.user_id.as_str());

    let (status, body) = refresh(&server, &session.refresh).await;
    assert_eq!(status, 200, "{body}");
    let next = session_of(&body);
    assert_ne!(next.refresh, session.refresh);

    let response = client()
        .post(server.url("/auth/v1/logout?scope=local"))
        .bearer_auth(&next.access)
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status().as_u16(), 204);
    let (status, body) = get_user(&server, &next.access).await;
    assert_eq!(status, 403, "a signed-out session is gone: {body}");
    assert_eq!(body["error_code"], "session_not_found");
    let (status, body) = refresh(&server, &next.refresh).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_code"], "refresh_token_not_found");

    // Policy: short passwords, bad emails, duplicate accounts.
    for (email, password, code) in [
        ("bob@example.com", "short", "weak_password"),
        ("not-an-email", PASSWORD, "email_address_invalid"),
        ("ann@example.com", PASSWORD, "user_already_exists"),
    ] {
        let (status, _, body) = send_json(
            client()
                .post(server.url("/auth/v1/signup"))
                .json(&json!({ "email": email, "password": password })),
        )
        .await;
        assert!(status == 400 || status == 422, "{status} {body}");
        assert_eq!(body["error_code"], code, "{body}");
        assert!(body["msg"].is_string());
    }
    // Nothing secret reaches the log.
    let log = server.log();
    for secret in [PASSWORD, &session.refresh, &session.access, "$argon2"] {
        assert!(!log.contains(secret), "the log contains a secret: {log}");
    }
}

#[tokio::test]
async fn an_access_token_stops_opening_routes_and_storage_at_logout() {
    let app = AppDir::new(&format!(
        "{GUARDED}\n[bucket.team]\naccess = \"authenticated\"\n"
    ));
    let server = app.start(1);
    let session = signup(&server, "ann@example.com").await;
    let private = |token: &str| {
        client()
            .get(server.url("/private/x"))
            .bearer_auth(token)
            .send()
    };
    let object = server.url("/storage/v1/object/team/note.txt");
    let upload = crate::harness::upload(&server, &session.access, "team", "note.txt", "hi");
    assert_eq!(upload.await, 200);
    // Used a moment ago, so every cache on the way holds it.
    let response = private(&session.access).await.expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let read = client().get(&object).bearer_auth(&session.access).send();
    assert_eq!(read.await.expect("download").status().as_u16(), 200);

    let response = client()
        .post(server.url("/auth/v1/logout?scope=local"))
        .bearer_auth(&session.access)
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status().as_u16(), 204);
    let response = private(&session.access).await.expect("request");
    assert_eq!(response.status().as_u16(), 401);
    let read = client().get(&object).bearer_auth(&session.access).send();
    assert_eq!(read.await.expect("download").status().as_u16(), 401);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer_and_failures_throttle() {
    let app = AppDir::new(GUARDED);
    let server = app.start(2);
    signup(&server, "ann@example.com").await;
    let (wrong_status, wrong) = login(&server, "ann@example.com", "wrong password").await;
    let (unknown_status, unknown) = login(&server, "nobody@example.com", PASSWORD).await;
    assert_eq!(wrong_status, 400);
    assert_eq!((wrong_status, &wrong), (unknown_status, &unknown));
    assert_eq!(wrong["error_code"], "invalid_credentials");

    for _ in 0..4 {
        login(&server, "ann@example.com", "wrong password").await;
    }
    // The fifth failure in a row locks the account, even for the right password.
    let response = client()
        .post(server.url("/auth/v1/token?grant_type=password"))
        .json(&json!({ "email": "ann@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!(retry_after >= 1);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error_code"], "over_request_rate_limit");
}

#[tokio::test]
async fn a_flood_from_one_address_is_throttled() {
    let app = AppDir::new(GUARDED);
    let server = app.start(1);
    let mut throttled = None;
    for attempt in 0..60 {
        let response = client()
            .post(server.url("/auth/v1/token?grant_type=refresh_token"))
            .json(&json!({ "refresh_token": format!("nope.{attempt}") }))
            .send()
            .await
            .expect("request");
        if response.status().as_u16() == 429 {
            throttled = Some(response);
            break;
        }
    }
    let response = throttled.expect("60 requests at once from one address must be throttled");
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn the_address_bucket_holds_across_worker_processes() {
    let app = AppDir::new(GUARDED);
    let server = app.start_processes(3);
    let mut statuses = std::collections::BTreeMap::new();
    let mut processes = std::collections::HashSet::new();
    // Twice the burst (30), each on a new connection, which the kernel spreads over the
    // processes.
    for attempt in 0..60 {
        let response = crate::harness::fresh_connection_client()
            .post(server.url("/auth/v1/token?grant_type=refresh_token"))
            .json(&json!({ "refresh_token": format!("nope.{attempt}") }))
            .send()
            .await
            .expect("request");
        if let Some(id) = response.headers().get("x-request-id") {
            processes.insert(crate::harness::process_of(id.to_str().unwrap_or_default()));
        }
        *statuses.entry(response.status().as_u16()).or_insert(0) += 1;
    }
    assert!(
        processes.len() >= 2,
        "more than one process served: {processes:?}"
    );
    // 30 at once and one more every 2 s: the test takes far less than 2 s per request.
    let answered = statuses.get(&400).copied().unwrap_or(0);
    assert!(
        (30..=32).contains(&answered),
        "one bucket for the host, not one per process: {statuses:?}"
    );
    assert_eq!(
        answered + statuses.get(&429).copied().unwrap_or(0),
        60,
        "{statuses:?}"
    );
}

/// The claims of an access token, unverified.
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json")
}

fn forge(token: &str, change: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = claims_of(token);
    change(&mut claims);
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    )
}

#[tokio::test]
async fn forged_and_foreign_tokens_are_rejected() {
    let app = AppDir::new(GUARDED);
    let server = app.start(2);
    let other_app = AppDir::new(&GUARDED.replace("\"guarded\"", "\"elsewhere\""));
    let other = other_app.start(1);
    let session = signup(&server, "ann@example.com").await;
    let foreign = signup(&other, "ann@example.com").await;

    let claims = claims_of(&session.access);
    let jwks: Value = client()
        .get(server.url("/auth/v1/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let public_key = jwks["keys"][0].to_string();
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public_key.as_bytes()),
    )
    .expect("hs256 token");
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        session.access.split('.').nth(1).expect("a JWT")
    );
    let forged = [
        (
            "tampered role",
            forge(&session.access, |c| c["role"] = "admin".into()),
        ),
        (
            "tampered subject",
            forge(&session.access, |c| c["sub"] = "someone-else".into()),
        ),
        ("alg none", none),
        ("HS256 keyed with the public key", hs256),
        ("another app's token", foreign.access.clone()),
        ("garbage", "not.a.token".to_string()),
    ];
    for (what, token) in &forged {
        let (status, _, body) =
            send_json(client().get(server.url("/private/x")).bearer_auth(token)).await;
        assert_eq!(
            status, 401,
            "{what} was accepted by a guarded route: {body}"
        );
        let (status, _) = get_user(&server, token).await;
        assert_eq!(status, 401, "{what} was accepted by /auth/v1/user");
    }
    let (status, _, body) = send_json(
        client()
            .get(server.url("/private/x"))
            .bearer_auth(&session.access),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn expired_tokens_are_rejected() {
    let app = AppDir::new(&format!("{GUARDED}\n[auth]\naccess_token_ttl = \"1s\"\n"));
    let server = app.start(1);
    let session = signup(&server, "ann@example.com").await;
    let (status, _, _) = send_json(
        client()
            .get(server.url("/private/x"))
            .bearer_auth(&session.access),
    )
    .await;
    assert_eq!(status, 200);
    // One second of validity, five of tolerated clock skew, and a margin for the whole-second
    // resolution of `exp` (a token is still valid in the second it reaches exp + leeway).
    tokio::time::sleep(Duration::from_millis(7_500)).await;
    let (status, _, body) = send_json(
        client()
            .get(server.url("/private/x"))
            .bearer_auth(&session.access),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Expired"),
        "{body}"
    );
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_whole_session() {
    let app = AppDir::new(GUARDED);
    let server = app.start(2);
    let first = signup(&server, "ann@example.com").await;
    let (status, body) = refresh(&server, &first.refresh).await;
    assert_eq!(status, 200, "{body}");
    let second = session_of(&body);
    // A thief replays the first token.
    let (status, body) = refresh(&server, &first.refresh).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error_code"], "refresh_token_already_used");
    // The legitimate holder's newer token is dead too: the family is revoked.
    let (status, body) = refresh(&server, &second.refresh).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_code"], "refresh_token_not_found");
    let (status, _) = get_user(&server, &second.access).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn guarded_routes_pass_the_identity_and_drop_forged_identity_headers() {
    let app = AppDir::new(GUARDED);
    let server = app.start(2);
    let session = signup(&server, "ann@example.com").await;

    let (status, _, body) = send_json(client().get(server.url("/private/x"))).await;
    assert_eq!(status, 401, "{body}");

    let (status, _, body) = send_json(
        client()
            .get(server.url("/private/x"))
            .bearer_auth(&session.access)
            .header("x-nimbus-user-id", "forged"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["context"]["identity"]["userId"],
        session.user_id.as_str()
    );
    assert_eq!(body["context"]["identity"]["email"], "ann@example.com");
    assert_eq!(body["context"]["identity"]["role"], "authenticated");
    assert_eq!(
        body["headers"]["x-nimbus-user-id"],
        session.user_id.as_str()
    );

    let (status, _, body) = send_json(client().get(server.url("/maybe/x"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["context"]["identity"], Value::Null);
    let (status, _, body) = send_json(
        client()
            .get(server.url("/maybe/x"))
            .bearer_auth("bad.token.here"),
    )
    .await;
    assert_eq!(
        status, 401,
        "an invalid token is refused even where auth is optional: {body}"
    );

    let (status, _, body) = send_json(
        client()
            .get(server.url("/open/x"))
            .header("x-nimbus-user-id", "forged")
            .header("x-nimbus-user-role", "admin"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["context"]["identity"], Value::Null);
    assert!(body["headers"].get("x-nimbus-user-id").is_none(), "{body}");
    assert!(
        body["headers"].get("x-nimbus-user-role").is_none(),
        "{body}"
    );
}

#[tokio::test]
async fn an_app_can_require_its_publishable_key() {
    let app = AppDir::new(&GUARDED.replace(
        "name = \"guarded\"",
        "name = \"guarded\"\nrequire_api_key = true",
    ));
    let server = app.start(1);
    let (status, _, _) = send_json(client().get(server.url("/open/x"))).await;
    assert_eq!(status, 401);
    let (status, _, _) = send_json(
        client()
            .post(server.url("/auth/v1/signup"))
            .json(&json!({ "email": "ann@example.com", "password": PASSWORD })),
    )
    .await;
    assert_eq!(status, 401);
    let key = app.api_key();
    let (status, _, body) =
        send_json(client().get(server.url("/open/x")).header("apikey", &key)).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = send_json(
        client()
            .get(server.url("/open/x"))
            .header("apikey", "nb_publishable_wrong"),
    )
    .await;
    assert_eq!(status, 401);
}

const USERS: &str = r#"
[app]
name = "admin"

[component.users]
source = "{users}"
routes = ["/users/..."]
auth = "GRANT"
"#;

#[test]
fn a_guest_importing_auth_needs_the_matching_grant() {
    for (grant, missing) in [
        ("none", "auth = \"verify\""),
        ("verify", "auth = \"admin\""),
    ] {
        let app = AppDir::new(&USERS.replace("GRANT", grant));
        let output = app.run(&["check", &app.path().to_string_lossy()]);
        assert!(!output.status.success(), "grant {grant} loaded");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(missing), "{stderr}");
        assert!(stderr.contains("component `users`"), "{stderr}");
    }
}

#[tokio::test]
async fn an_admin_guest_manages_users_and_verifies_tokens() {
    let app = AppDir::new(&USERS.replace("GRANT", "admin"));
    let server = app.start(1);
    let (status, _, created) = send_json(
        client()
            .post(server.url("/users/create"))
            .body(format!("guest-made@example.com {PASSWORD}")),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    let (status, _, body) = send_json(
        client()
            .post(server.url(&format!("/users/role?{id}")))
            .body("editor"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = login(&server, "guest-made@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("token").to_string();
    let (status, _, who) =
        send_json(client().get(server.url(&format!("/users/verify?{token}")))).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["userId"], id.as_str());
    assert_eq!(who["role"], "editor");
    let (status, _, body) =
        send_json(client().get(server.url("/users/verify?forged.token.x"))).await;
    assert_eq!(status, 403, "{body}");
    let (status, _, body) =
        send_json(client().delete(server.url(&format!("/users/delete?{id}")))).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = send_json(client().get(server.url(&format!("/users/get?{id}")))).await;
    assert_eq!((status, body), (200, Value::Null));
}

#[tokio::test]
async fn the_users_command_works_while_the_app_runs() {
    let app = AppDir::new(GUARDED);
    let server = app.start(1);
    let (path, data) = (app.path().to_string_lossy().to_string(), app.data());
    let data = data.to_string_lossy().to_string();
    let run = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_nimbus"));
        command
            .args(args)
            .args(["--app", &path, "--data", &data])
            .env("NIMBUS_PASSWORD", PASSWORD);
        let output = command.output().expect("run nimbus");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    run(&["users", "create", "cli@example.com", "--role", "admin"]);
    assert!(run(&["users", "list"]).contains("cli@example.com"));
    let (status, body) = login(&server, "cli@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["role"], "admin");
    run(&["users", "set-role", "cli@example.com", "authenticated"]);
    run(&["users", "delete", "cli@example.com"]);
    assert!(!run(&["users", "list"]).contains("cli@example.com"));
    let (status, _) = login(&server, "cli@example.com", PASSWORD).await;
    assert_eq!(status, 400);
}
