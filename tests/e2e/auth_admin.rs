//! `supabase.auth.admin` over HTTP: every call with the app's secret key, each refused to the
//! publishable key and to a user; the secret key as the service role in storage and in guests.

use serde_json::{Value, json};

use crate::auth::PASSWORD;
use crate::harness::{AppDir, Server, client, send_json};

const ADMIN_APP: &str = r#"
[app]
name = "admin"
require_api_key = true

[component.probe]
source = "{probe}"
routes = [{ route = "/private/...", auth = "required" }]

[bucket.vault]
access = "private"
"#;

fn admin(server: &Server, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    client().request(method, server.url(&format!("/auth/v1/admin{path}")))
}

/// `request` as supabase-js sends it from a client made with `key`.
fn with_key(request: reqwest::RequestBuilder, key: &str) -> reqwest::RequestBuilder {
    request.header("apikey", key).bearer_auth(key)
}

#[tokio::test]
async fn the_admin_api_works_with_the_secret_key_only() {
    let app = AppDir::new(ADMIN_APP);
    let server = app.start(1);
    let secret = app.secret_key();
    let publishable = app.api_key();
    let as_admin = |method, path: &str| with_key(admin(&server, method, path), &secret);

    // createUser without email_confirm: the user exists but may not sign in yet.
    let (status, _, created) = send_json(as_admin(reqwest::Method::POST, "/users").json(&json!({
        "email": "Ann@Example.com",
        "password": PASSWORD,
        "user_metadata": { "name": "Ann" },
        "app_metadata": { "plan": "pro", "provider": "forged" },
        "role": "editor",
    })))
    .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["email"], "ann@example.com");
    assert_eq!(created["email_confirmed_at"], Value::Null);
    assert_eq!(created["role"], "editor");
    assert_eq!(created["app_metadata"]["plan"], "pro");
    assert_eq!(created["app_metadata"]["provider"], "email");
    assert_eq!(created["user_metadata"]["name"], "Ann");
    let id = created["id"].as_str().expect("id").to_string();
    let (status, body) = login_with_key(&server, &publishable, "ann@example.com").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_code"], "email_not_confirmed");

    // updateUserById confirms; then the password works and the token has the role.
    let (status, _, updated) = send_json(
        as_admin(reqwest::Method::PUT, &format!("/users/{id}")).json(&json!({
            "email_confirm": true,
            "user_metadata": { "name": null, "team": "blue" },
        })),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert!(updated["email_confirmed_at"].is_string(), "{updated}");
    assert_eq!(updated["user_metadata"], json!({ "team": "blue" }));
    let (status, session) = login_with_key(&server, &publishable, "ann@example.com").await;
    assert_eq!(status, 200, "{session}");
    let access = session["access_token"].as_str().expect("token").to_string();
    assert_eq!(crate::auth::claims_of(&access)["role"], "editor");

    // getUserById, and listUsers page by page with the headers auth-js reads.
    let (status, _, fetched) =
        send_json(as_admin(reqwest::Method::GET, &format!("/users/{id}"))).await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched["id"], id.as_str());
    for email in ["bob@example.com", "cy@example.com"] {
        let (status, _, body) = send_json(
            as_admin(reqwest::Method::POST, "/users")
                .json(&json!({ "email": email, "email_confirm": true })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let response = as_admin(reqwest::Method::GET, "/users?page=1&per_page=2")
        .send()
        .await
        .expect("list");
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("x-total-count"), "3");
    assert_eq!(
        header("link"),
        "</auth/v1/admin/users?page=2&per_page=2>; rel=\"next\", </auth/v1/admin/users?page=2&per_page=2>; rel=\"last\""
    );
    let page: Value = response.json().await.expect("json");
    let emails: Vec<&str> = page["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["email"].as_str())
        .collect();
    assert_eq!(emails, ["cy@example.com", "bob@example.com"]);

    // deleteUser ends the user's sessions.
    let (status, _, body) =
        send_json(as_admin(reqwest::Method::DELETE, &format!("/users/{id}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({}));
    let (status, _, body) = send_json(
        client()
            .get(server.url("/auth/v1/user"))
            .header("apikey", &publishable)
            .bearer_auth(&access),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _, body) =
        send_json(as_admin(reqwest::Method::GET, &format!("/users/{id}"))).await;
    assert_eq!(status, 404, "{body}");

    // What nimbus does not offer is refused by name.
    let (status, _, body) = send_json(
        as_admin(reqwest::Method::POST, "/users")
            .json(&json!({ "email": "dee@example.com", "ban_duration": "24h" })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["msg"].as_str().unwrap_or_default().contains("ban"),
        "{body}"
    );
    let (status, _, body) = send_json(
        as_admin(reqwest::Method::POST, "/users")
            .json(&json!({ "email": "dee@example.com", "role": "service_role" })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

async fn login_with_key(server: &Server, key: &str, email: &str) -> (u16, Value) {
    let (status, _, body) = send_json(
        client()
            .post(server.url("/auth/v1/token?grant_type=password"))
            .header("apikey", key)
            .json(&json!({ "email": email, "password": PASSWORD })),
    )
    .await;
    (status, body)
}

/// Signs up ann@example.com in an app that requires its publishable key.
async fn signup_with_key(server: &Server, publishable: &str) -> crate::auth::Session {
    let (status, _, body) = send_json(
        client()
            .post(server.url("/auth/v1/signup"))
            .header("apikey", publishable)
            .json(&json!({ "email": "ann@example.com", "password": PASSWORD })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    crate::auth::session_of(&body)
}

#[tokio::test]
async fn the_publishable_key_and_users_cannot_administer() {
    let app = AppDir::new(ADMIN_APP);
    let server = app.start(1);
    let publishable = app.api_key();
    let ann = signup_with_key(&server, &publishable).await;
    let calls = [
        (reqwest::Method::GET, "/users".to_string()),
        (reqwest::Method::POST, "/users".to_string()),
        (reqwest::Method::GET, format!("/users/{}", ann.user_id)),
        (reqwest::Method::PUT, format!("/users/{}", ann.user_id)),
        (reqwest::Method::DELETE, format!("/users/{}", ann.user_id)),
    ];
    // A forged secret key is no key at all.
    let forged = format!("{}x", app.secret_key());
    for (method, path) in calls {
        let body = json!({ "email": "eve@example.com", "role": "admin" });
        let (status, _, answer) =
            send_json(with_key(admin(&server, method.clone(), &path), &publishable).json(&body))
                .await;
        assert_eq!(
            status, 403,
            "{method} {path} with the publishable key: {answer}"
        );
        assert_eq!(answer["error_code"], "not_admin");
        let (status, _, answer) = send_json(
            admin(&server, method.clone(), &path)
                .header("apikey", &publishable)
                .bearer_auth(&ann.access)
                .json(&body),
        )
        .await;
        assert_eq!(status, 403, "{method} {path} as a user: {answer}");
        let (status, _, answer) =
            send_json(admin(&server, method.clone(), &path).json(&body)).await;
        assert_eq!(status, 401, "{method} {path} with no key: {answer}");
        let (status, _, answer) =
            send_json(with_key(admin(&server, method.clone(), &path), &forged).json(&body)).await;
        assert_eq!(status, 401, "{method} {path} with a forged key: {answer}");
    }
    let (status, _, user) = send_json(
        client()
            .get(server.url("/auth/v1/user"))
            .header("apikey", &publishable)
            .bearer_auth(&ann.access),
    )
    .await;
    assert_eq!(status, 200, "ann is untouched: {user}");
    assert_eq!(user["role"], "authenticated");
}

#[tokio::test]
async fn the_secret_key_is_the_service_role_in_storage_and_guests() {
    let app = AppDir::new(ADMIN_APP);
    let server = app.start(1);
    let secret = app.secret_key();
    let publishable = app.api_key();
    // A private bucket: no user may touch it, the service role may.
    let url = server.url("/storage/v1/object/vault/report.txt");
    let status = client()
        .post(&url)
        .header("apikey", &secret)
        .bearer_auth(&secret)
        .header("content-type", "text/plain")
        .body("quarterly")
        .send()
        .await
        .expect("upload")
        .status();
    assert_eq!(status, 200);
    let read = client()
        .get(&url)
        .header("apikey", &secret)
        .send()
        .await
        .expect("download");
    assert_eq!(read.status(), 200);
    assert_eq!(read.text().await.expect("body"), "quarterly");
    let ann = signup_with_key(&server, &publishable).await;
    let refused = client()
        .get(&url)
        .header("apikey", &publishable)
        .bearer_auth(&ann.access)
        .send()
        .await
        .expect("download");
    assert_eq!(refused.status(), 403);
    // A user's token beside the secret key acts as the user, as in Supabase.
    let as_user = client()
        .get(&url)
        .header("apikey", &secret)
        .bearer_auth(&ann.access)
        .send()
        .await
        .expect("download");
    assert_eq!(as_user.status(), 403);

    // A route that requires a token lets the service role through, as role service_role.
    let (status, _, body) =
        send_json(with_key(client().get(server.url("/private/x")), &secret)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["context"]["identity"]["role"], "service_role");
    assert_eq!(body["context"]["identity"]["userId"], "");
    assert_eq!(body["context"]["identity"]["email"], Value::Null);
}
