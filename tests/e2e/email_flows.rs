//! The auth flows that send mail, through a real SMTP server (Python's aiosmtpd, from
//! tests/mail) that the test starts: each link and code is followed from the mail received.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::auth::{PASSWORD, claims_of, login};
use crate::harness::{AppDir, Server, client, send_json};

const APP: &str = r#"
[app]
name = "mailing"

[auth]
site_url = "http://app.localhost:5173"
redirect_urls = ["http://app.localhost:5173/**"]
anonymous = true

[auth.email]
sender = "Mailing <no-reply@mailing.test>"
confirm_signup = true

[auth.email.templates.recovery]
subject = "Reset your Mailing password"
body = "Reset it here: {{ .ConfirmationURL }} (code {{ .Token }})"

[component.hello]
source = "{hello}"
routes = ["GET /hello"]
"#;

/// The SMTP server of one test, and the directory its mails land in.
struct Sink {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/python/bin/python")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Sink {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mail/smtp_sink.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP sink (make test installs aiosmtpd into target/tools/python)");
        let mut ready = String::new();
        let stdout = child.stdout.take().expect("stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut ready)
            .expect("sink output");
        assert_eq!(ready.trim(), "ready", "the SMTP sink did not start");
        Self { child, dir, port }
    }

    fn url(&self) -> String {
        format!("smtp+insecure://127.0.0.1:{}", self.port)
    }

    fn mails(&self) -> Vec<Value> {
        let mut mails: Vec<Value> = std::fs::read_dir(self.dir.path())
            .expect("mail dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect();
        mails.sort_by_key(|m| m["subject"].as_str().map(str::to_string));
        mails
    }

    /// Waits (at most 10 s) for the `n`th mail to `to`, counting from 1.
    fn wait_for(&self, to: &str, n: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let to_them: Vec<Value> = self
                .mails()
                .into_iter()
                .filter(|m| {
                    m["to"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|a| a == to))
                })
                .collect();
            if to_them.len() >= n {
                return to_them[n - 1].clone();
            }
            assert!(
                Instant::now() < deadline,
                "no mail {n} to {to}: {:?}",
                self.mails()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The link (to `/auth/v1/verify`) and the six-digit code in a mail's body.
fn link_and_code(mail: &Value) -> (String, String) {
    let body = mail["body"].as_str().expect("body");
    let link = body
        .split_whitespace()
        .find(|w| w.contains("/auth/v1/verify?"))
        .expect("a verify link")
        .trim_end_matches([')', '.', ','])
        .to_string();
    let code = body
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a six-digit code")
        .to_string();
    (link, code)
}

/// Follows `link` without following its redirect; the `Location`.
async fn follow(link: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = client.get(link).send().await.expect("follow the link");
    assert_eq!(response.status().as_u16(), 303, "{link}");
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location")
        .to_string()
}

fn fragment_param(location: &str, name: &str) -> Option<String> {
    let fragment = location.split_once('#')?.1;
    fragment
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
}

/// Makes a user with a confirmed `email` and [`PASSWORD`], as the service role.
async fn confirmed_user(server: &Server, secret: &str, email: &str) {
    let (status, _, body) = send_json(
        client()
            .post(server.url("/auth/v1/admin/users"))
            .bearer_auth(secret)
            .json(&json!({ "email": email, "password": PASSWORD, "email_confirm": true })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

fn start(sink: &Sink) -> (AppDir, Server) {
    let app = AppDir::new(APP);
    let server = app.start_configured(&["--smtp", &sink.url()], |_| {});
    (app, server)
}

#[tokio::test]
async fn signup_confirmation_is_followed_from_the_mail_and_works_once() {
    let sink = Sink::start();
    let (_app, server) = start(&sink);
    let (status, _, user) = send_json(
        client()
            .post(server.url("/auth/v1/signup?redirect_to=http://app.localhost:5173/welcome"))
            .json(&json!({ "email": "ann@example.com", "password": PASSWORD })),
    )
    .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["email_confirmed_at"], Value::Null);
    assert!(
        user.get("access_token").is_none(),
        "no session before confirmation"
    );
    let (status, body) = login(&server, "ann@example.com", PASSWORD).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (400, Some("email_not_confirmed"))
    );

    let mail = sink.wait_for("ann@example.com", 1);
    assert_eq!(mail["from"], "no-reply@mailing.test");
    assert_eq!(mail["subject"], "Confirm Your Signup");
    let (link, _) = link_and_code(&mail);
    assert!(link.starts_with(&server.url("/auth/v1/verify?")), "{link}");
    let location = follow(&link).await;
    assert!(
        location.starts_with("http://app.localhost:5173/welcome#"),
        "{location}"
    );
    let access = fragment_param(&location, "access_token").expect("access_token");
    assert_eq!(claims_of(&access)["email"], "ann@example.com");
    assert_eq!(fragment_param(&location, "type").as_deref(), Some("signup"));
    let (status, body) = login(&server, "ann@example.com", PASSWORD).await;
    assert_eq!(status, 200, "confirmed: {body}");

    // A used link is refused, and says so where the browser lands.
    let again = follow(&link).await;
    assert!(again.starts_with("http://app.localhost:5173#"), "{again}");
    assert_eq!(
        fragment_param(&again, "error_code").as_deref(),
        Some("otp_expired")
    );
    assert_eq!(fragment_param(&again, "access_token"), None);
}

#[tokio::test]
async fn recovery_magic_link_and_otp_code_each_sign_in_from_the_mail() {
    let sink = Sink::start();
    let (app, server) = start(&sink);
    // A confirmed user, made by the service role.
    let secret = app.secret_key();
    confirmed_user(&server, &secret, "bob@example.com").await;

    // Recovery, with the app's own template; the link signs in, then the password changes.
    let (status, _, body) = send_json(
        client()
            .post(server.url("/auth/v1/recover"))
            .json(&json!({ "email": "bob@example.com" })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mail = sink.wait_for("bob@example.com", 1);
    assert_eq!(mail["subject"], "Reset your Mailing password");
    let (link, _) = link_and_code(&mail);
    let location = follow(&link).await;
    assert!(
        location.starts_with("http://app.localhost:5173#"),
        "{location}"
    );
    let access = fragment_param(&location, "access_token").expect("access_token");
    let (status, _, _) = send_json(
        client()
            .put(server.url("/auth/v1/user"))
            .bearer_auth(&access)
            .json(&json!({ "password": "a brand new password" })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = login(&server, "bob@example.com", "a brand new password").await;
    assert_eq!(status, 200);

    // A recovery request for an address without an account answers the same, and sends nothing.
    let (status, _, body) = send_json(
        client()
            .post(server.url("/auth/v1/recover"))
            .json(&json!({ "email": "nobody@example.com" })),
    )
    .await;
    assert_eq!((status, body), (200, json!({})));

    // signInWithOtp: the six-digit code from the mail, through verifyOtp. The recipient's
    // bucket holds one mail a minute, so this goes to a new address (which it signs up).
    let (status, _, body) = send_json(
        client()
            .post(server.url("/auth/v1/otp"))
            .json(&json!({ "email": "cy@example.com", "create_user": true })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mail = sink.wait_for("cy@example.com", 1);
    let (link, code) = link_and_code(&mail);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, _, body) = send_json(
        client()
            .post(server.url("/auth/v1/verify"))
            .json(&json!({ "type": "email", "email": "cy@example.com", "token": wrong })),
    )
    .await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (403, Some("otp_expired"))
    );
    let (status, _, session) = send_json(
        client()
            .post(server.url("/auth/v1/verify"))
            .json(&json!({ "type": "email", "email": "cy@example.com", "token": code })),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["user"]["email"], "cy@example.com");
    assert!(session["user"]["email_confirmed_at"].is_string());
    // The code and its link were one issue: both are spent.
    let location = follow(&link).await;
    assert_eq!(
        fragment_param(&location, "error_code").as_deref(),
        Some("otp_expired")
    );

    // The recipient's bucket: a second mail within the minute is refused.
    let (status, _, body) = send_json(
        client()
            .post(server.url("/auth/v1/otp"))
            .json(&json!({ "email": "cy@example.com" })),
    )
    .await;
    assert_eq!(status, 429, "{body}");
}

#[tokio::test]
async fn foreign_redirects_are_refused_and_pkce_gives_a_code_only_the_verifier_exchanges() {
    let sink = Sink::start();
    let (_app, server) = start(&sink);
    let (status, _, body) = send_json(
        client()
            .post(server.url("/auth/v1/otp?redirect_to=https://evil.example/steal"))
            .json(&json!({ "email": "dee@example.com" })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("redirect_urls"),
        "{body}"
    );

    // PKCE: the challenge goes with the request, the code comes back in the query.
    let verifier = "a-verifier-of-at-least-forty-three-characters-long-0123456789";
    let challenge = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
    };
    let (status, _, body) = send_json(
        client()
            .post(server.url("/auth/v1/otp?redirect_to=http://app.localhost:5173/cb"))
            .json(&json!({
                "email": "dee@example.com",
                "code_challenge": challenge,
                "code_challenge_method": "s256",
            })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mail = sink.wait_for("dee@example.com", 1);
    let (link, _) = link_and_code(&mail);
    let location = follow(&link).await;
    let code = location
        .strip_prefix("http://app.localhost:5173/cb?code=")
        .expect("an authorization code in the query")
        .to_string();
    assert!(!location.contains("access_token"), "{location}");
    let exchange = |verifier: &str| {
        send_json(
            client()
                .post(server.url("/auth/v1/token?grant_type=pkce"))
                .json(&json!({ "auth_code": code, "code_verifier": verifier })),
        )
    };
    let (status, _, body) = exchange("not-the-verifier-not-the-verifier-not-the-verifier").await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = exchange(verifier).await;
    assert_eq!(status, 400, "a failed exchange spends the code: {body}");
}

#[tokio::test]
async fn pkce_exchange_gives_a_session_and_email_change_confirms_the_new_address() {
    let sink = Sink::start();
    let (app, server) = start(&sink);
    let secret = app.secret_key();
    confirmed_user(&server, &secret, "eve@example.com").await;
    let verifier = "another-verifier-of-at-least-forty-three-characters-0123456789";
    let (status, _, _) = send_json(client().post(server.url("/auth/v1/recover")).json(&json!({
        "email": "eve@example.com",
        "code_challenge": verifier,
        "code_challenge_method": "plain",
    })))
    .await;
    assert_eq!(status, 200);
    let (link, _) = link_and_code(&sink.wait_for("eve@example.com", 1));
    let location = follow(&link).await;
    let code = location.split("code=").nth(1).expect("code").to_string();
    let (status, _, session) = send_json(
        client()
            .post(server.url("/auth/v1/token?grant_type=pkce"))
            .json(&json!({ "auth_code": code, "code_verifier": verifier })),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let access = session["access_token"].as_str().expect("token").to_string();

    // updateUser({ email }): a confirmation goes to the new address; until it is followed
    // the old address is the user's.
    let (status, _, user) = send_json(
        client()
            .put(server.url("/auth/v1/user"))
            .bearer_auth(&access)
            .json(&json!({ "email": "eve.new@example.com" })),
    )
    .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["email"], "eve@example.com");
    assert_eq!(user["new_email"], "eve.new@example.com");
    let mail = sink.wait_for("eve.new@example.com", 1);
    assert_eq!(mail["subject"], "Confirm Email Change");
    let (link, _) = link_and_code(&mail);
    let location = follow(&link).await;
    assert!(
        fragment_param(&location, "access_token").is_some(),
        "{location}"
    );
    let (status, _) = login(&server, "eve.new@example.com", PASSWORD).await;
    assert_eq!(status, 200);
    let (status, _) = login(&server, "eve@example.com", PASSWORD).await;
    assert_eq!(status, 400, "the old address is no longer the user's");
}

#[tokio::test]
async fn without_smtp_mails_go_to_the_dev_mailbox() {
    let app = AppDir::new(APP);
    let server = app.start(1);
    let (status, _, _) = send_json(
        client()
            .post(server.url("/auth/v1/signup"))
            .json(&json!({ "email": "fay@example.com", "password": PASSWORD })),
    )
    .await;
    assert_eq!(status, 200);
    let secret = app.secret_key();
    let (status, _, mails) = send_json(
        client()
            .get(server.url("/admin/v1/mail?to=fay@example.com"))
            .bearer_auth(&secret),
    )
    .await;
    assert_eq!(status, 200, "{mails}");
    let mail = &mails["mails"][0];
    assert_eq!(mail["subject"], "Confirm Your Signup");
    let id = mail["id"].as_str().expect("id");
    let listed = app.run_on_data(&["mail", "list", "--to", "fay@example.com"]);
    assert!(listed.status.success(), "{listed:?}");
    assert!(String::from_utf8_lossy(&listed.stdout).contains(id));
    let shown = app.run_on_data(&["mail", "show", id]);
    let shown = String::from_utf8_lossy(&shown.stdout).to_string();
    assert!(shown.contains("/auth/v1/verify?"), "{shown}");
    // The mailbox is the operator's: no key, no mail.
    let (status, _, _) = send_json(client().get(server.url("/admin/v1/mail"))).await;
    assert_eq!(status, 401);
    drop(server);
}

#[tokio::test]
async fn generate_link_and_invite_work_for_the_secret_key_only() {
    let sink = Sink::start();
    let (app, server) = start(&sink);
    let secret = app.secret_key();
    let publishable = app.api_key();
    // generateLink sends nothing: the app mails the link itself.
    let (status, _, generated) = send_json(
        client()
            .post(server.url("/auth/v1/admin/generate_link"))
            .bearer_auth(&secret)
            .json(&json!({ "type": "magiclink", "email": "gus@example.com" })),
    )
    .await;
    assert_eq!(status, 200, "{generated}");
    assert_eq!(generated["email"], "gus@example.com");
    assert_eq!(generated["verification_type"], "magiclink");
    let action_link = generated["action_link"].as_str().expect("action_link");
    assert!(
        action_link.starts_with(&server.url("/auth/v1/verify?")),
        "{action_link}"
    );
    let (status, _, session) = send_json(
        client()
            .post(server.url("/auth/v1/verify"))
            .json(&json!({ "type": "magiclink", "token_hash": generated["hashed_token"] })),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["user"]["email"], "gus@example.com");
    let (status, _, _) = send_json(
        client()
            .post(server.url("/auth/v1/admin/generate_link"))
            .header("apikey", &publishable)
            .bearer_auth(&publishable)
            .json(&json!({ "type": "magiclink", "email": "gus@example.com" })),
    )
    .await;
    assert_eq!(status, 403);

    // inviteUserByEmail: a mail with a link that signs the invited user in.
    let (status, _, invited) = send_json(
        client()
            .post(server.url("/auth/v1/invite"))
            .bearer_auth(&secret)
            .json(&json!({ "email": "hal@example.com", "data": { "team": "blue" } })),
    )
    .await;
    assert_eq!(status, 200, "{invited}");
    assert_eq!(invited["user_metadata"]["team"], "blue");
    let mail = sink.wait_for("hal@example.com", 1);
    assert_eq!(mail["subject"], "You have been invited");
    let (link, _) = link_and_code(&mail);
    let location = follow(&link).await;
    assert_eq!(fragment_param(&location, "type").as_deref(), Some("invite"));
    let (status, _, _) = send_json(
        client()
            .post(server.url("/auth/v1/invite"))
            .header("apikey", &publishable)
            .bearer_auth(&publishable)
            .json(&json!({ "email": "ivy@example.com" })),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(sink.mails().len(), 1, "no mail for a refused invitation");
}

#[tokio::test]
async fn reauthentication_anonymous_upgrades_and_taken_addresses_under_confirmation() {
    let sink = Sink::start();
    let (app, server) = start(&sink);
    let secret = app.secret_key();
    confirmed_user(&server, &secret, "kim@example.com").await;
    let (_, body) = login(&server, "kim@example.com", PASSWORD).await;
    let access = body["access_token"].as_str().expect("token").to_string();

    // reauthenticate mails a code; a password change with a wrong one is refused.
    let (status, _, _) = send_json(
        client()
            .get(server.url("/auth/v1/reauthenticate"))
            .bearer_auth(&access),
    )
    .await;
    assert_eq!(status, 200);
    let mail = sink.wait_for("kim@example.com", 1);
    assert_eq!(mail["subject"], "Confirm reauthentication");
    let (_, nonce) = link_and_code(
        &json!({ "body": format!("{} /auth/v1/verify?x", mail["body"].as_str().unwrap_or_default()) }),
    );
    let change = |nonce: String| {
        send_json(
            client()
                .put(server.url("/auth/v1/user"))
                .bearer_auth(&access)
                .json(&json!({ "password": "kim's new password", "nonce": nonce })),
        )
    };
    let wrong = if nonce == "000000" {
        "111111"
    } else {
        "000000"
    };
    let (status, _, body) = change(wrong.to_string()).await;
    assert_eq!(status, 422, "{body}");
    let (status, _, body) = change(nonce).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = login(&server, "kim@example.com", "kim's new password").await;
    assert_eq!(status, 200);

    // Under confirm_signup, an anonymous user's email waits for its link.
    let (status, _, anonymous) = send_json(
        client()
            .post(server.url("/auth/v1/signup"))
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, 200, "{anonymous}");
    let anon_access = anonymous["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let (status, _, user) = send_json(
        client()
            .put(server.url("/auth/v1/user"))
            .bearer_auth(&anon_access)
            .json(&json!({ "email": "lee@example.com", "password": PASSWORD })),
    )
    .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["is_anonymous"], true, "still anonymous: {user}");
    assert_eq!(user["new_email"], "lee@example.com");
    let (status, _) = login(&server, "lee@example.com", PASSWORD).await;
    assert_eq!(status, 400, "not the user's address yet");
    let (link, _) = link_and_code(&sink.wait_for("lee@example.com", 1));
    follow(&link).await;
    let (status, body) = login(&server, "lee@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap_or_default())["is_anonymous"],
        false
    );

    // A sign-up for a taken address looks like any other, and mails nothing.
    confirmed_user(&server, &secret, "mo@example.com").await;
    let (status, _, fake) = send_json(
        client()
            .post(server.url("/auth/v1/signup"))
            .json(&json!({ "email": "mo@example.com", "password": "another password" })),
    )
    .await;
    assert_eq!(status, 200, "{fake}");
    assert_eq!(fake["email"], "mo@example.com");
    assert_eq!(fake["email_confirmed_at"], Value::Null);
    let (status, _) = login(&server, "mo@example.com", "another password").await;
    assert_eq!(status, 400);
    let (status, _) = login(&server, "mo@example.com", PASSWORD).await;
    assert_eq!(status, 200, "the account is untouched");
    let mails_to_mo = sink
        .mails()
        .iter()
        .filter(|m| {
            m["to"]
                .as_array()
                .is_some_and(|r| r.iter().any(|a| a == "mo@example.com"))
        })
        .count();
    assert_eq!(mails_to_mo, 0);
}
