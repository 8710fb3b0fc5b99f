use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nimbus_kv::RedbKvStore;

use super::*;

async fn service(dir: &tempfile::TempDir, app: &str) -> AuthService {
    let kv = RedbKvStore::open(&dir.path().join("kv.redb")).expect("kv");
    AuthService::open(Arc::new(kv), AuthConfig::new(app))
        .await
        .expect("auth")
}

/// Signs up ann@example.com (password `password1`).
async fn signed_up_ann(auth: &AuthService) -> Session {
    auth.signup("ann@example.com", "password1", serde_json::Value::Null)
        .await
        .expect("signup")
}

#[tokio::test]
async fn signup_login_refresh_logout() {
    let dir = tempfile::tempdir().expect("dir");
    let auth = service(&dir, "todo").await;
    let first = auth
        .signup(
            "Ann@Example.com",
            "password1",
            serde_json::json!({"name": "Ann"}),
        )
        .await
        .expect("signup");
    assert_eq!(first.user.email, "ann@example.com");
    assert!(matches!(
        auth.signup("ann@example.com", "password2", serde_json::Value::Null)
            .await,
        Err(AuthError::EmailTaken)
    ));
    let login = auth
        .sign_in("ann@example.com", "password1")
        .await
        .expect("login");
    let claims = auth.verify(&login.access_token).await.expect("valid token");
    assert_eq!(claims.sub, first.user.id);
    assert_eq!(claims.aud, "todo");

    let refreshed = auth.refresh(&login.refresh_token).await.expect("refresh");
    assert_ne!(refreshed.refresh_token, login.refresh_token);
    auth.authenticate(&refreshed.access_token)
        .await
        .expect("session live");

    auth.logout(&claims, LogoutScope::Local)
        .await
        .expect("logout");
    assert!(matches!(
        auth.authenticate(&refreshed.access_token).await,
        Err(AuthError::SessionNotFound)
    ));
    assert!(matches!(
        auth.refresh(&refreshed.refresh_token).await,
        Err(AuthError::RefreshTokenNotFound)
    ));
    // The signup session is another session: still live.
    auth.authenticate(&first.access_token)
        .await
        .expect("other session");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_are_the_same_error() {
    let dir = tempfile::tempdir().expect("dir");
    let auth = service(&dir, "todo").await;
    signed_up_ann(&auth).await;
    let wrong = auth
        .sign_in("ann@example.com", "password2")
        .await
        .expect_err("wrong");
    let unknown = auth
        .sign_in("bob@example.com", "password1")
        .await
        .expect_err("unknown");
    assert_eq!(wrong.to_string(), unknown.to_string());
    assert_eq!(wrong.code(), unknown.code());
    assert_eq!(wrong.status(), unknown.status());
}

#[tokio::test]
async fn repeated_failures_lock_the_account() {
    let dir = tempfile::tempdir().expect("dir");
    let auth = service(&dir, "todo").await;
    signed_up_ann(&auth).await;
    for _ in 0..FREE_FAILURES {
        assert!(matches!(
            auth.sign_in("ann@example.com", "nope-nope").await,
            Err(AuthError::InvalidCredentials)
        ));
    }
    // Locked: even the right password is refused until the lock ends.
    assert!(matches!(
        auth.sign_in("ann@example.com", "password1").await,
        Err(AuthError::Throttled { .. })
    ));
}

#[tokio::test]
async fn an_access_token_dies_with_its_session_even_when_recently_used() {
    let dir = tempfile::tempdir().expect("dir");
    let auth = service(&dir, "todo").await;
    let session = signed_up_ann(&auth).await;
    let claims = auth.verify_live(&session.access_token).await.expect("live");
    assert!(auth.verify_live_cached(&session.access_token).is_some());
    auth.logout(&claims, LogoutScope::Global)
        .await
        .expect("logout");
    assert!(auth.verify_live_cached(&session.access_token).is_none());
    assert!(matches!(
        auth.verify_live(&session.access_token).await,
        Err(AuthError::SessionNotFound)
    ));
    // The signature alone still verifies: only the session check refuses it.
    assert!(auth.verify(&session.access_token).await.is_ok());
}

#[tokio::test]
async fn a_session_ended_by_another_process_is_refused_after_the_recheck() {
    let dir = tempfile::tempdir().expect("dir");
    let kv: Arc<dyn nimbus_kv::KvStore> =
        Arc::new(RedbKvStore::open(&dir.path().join("kv.redb")).expect("kv"));
    let here = AuthService::open(Arc::clone(&kv), AuthConfig::new("todo"))
        .await
        .expect("auth");
    let there = AuthService::open(kv, AuthConfig::new("todo"))
        .await
        .expect("auth");
    let session = here
        .signup("ann@example.com", "password1", serde_json::Value::Null)
        .await
        .expect("signup");
    let claims = here.verify_live(&session.access_token).await.expect("live");
    there
        .logout(&claims, LogoutScope::Local)
        .await
        .expect("logout");
    std::thread::sleep(live::RECHECK_AFTER);
    assert!(here.verify_live_cached(&session.access_token).is_none());
    assert!(matches!(
        here.verify_live(&session.access_token).await,
        Err(AuthError::SessionNotFound)
    ));
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_family() {
    let dir = tempfile::tempdir().expect("dir");
    let auth = service(&dir, "todo").await;
    let session = signed_up_ann(&auth).await;
    let next = auth
        .refresh(&session.refresh_token)
        .await
        .expect("first use");
    assert!(matches!(
        auth.refresh(&session.refresh_token).await,
        Err(AuthError::RefreshTokenReused)
    ));
    // The legitimate holder's newer token died with the family.
    assert!(auth.refresh(&next.refresh_token).await.is_err());
    assert!(auth.authenticate(&next.access_token).await.is_err());
}

#[tokio::test]
async fn forged_tokens_are_rejected() {
    let dir = tempfile::tempdir().expect("dir");
    let auth = service(&dir, "todo").await;
    let other_dir = tempfile::tempdir().expect("dir");
    let other_app = service(&other_dir, "other").await;
    let session = signed_up_ann(&auth).await;
    let token = session.access_token;
    let parts: Vec<&str> = token.split('.').collect();

    // Tampered payload.
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    claims["role"] = "admin".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert!(auth.verify(&tampered).await.is_err());

    // alg: none.
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    assert!(
        auth.verify(&format!("{none_header}.{}.", parts[1]))
            .await
            .is_err()
    );

    // HS256 keyed with the public key.
    let jwks = auth.jwks().await.expect("jwks");
    let public = jwks["keys"][0].to_string();
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .expect("hs256");
    assert!(auth.verify(&hs).await.is_err());

    // Another app's audience and keys.
    assert!(other_app.verify(&token).await.is_err());
    assert!(auth.verify(&token).await.is_ok());
}

#[tokio::test]
async fn rotated_keys_keep_old_tokens_valid() {
    let dir = tempfile::tempdir().expect("dir");
    let auth = service(&dir, "todo").await;
    let session = signed_up_ann(&auth).await;
    let new_kid = auth.rotate_signing_key().await.expect("rotate");
    assert!(auth.verify(&session.access_token).await.is_ok());
    let later = auth
        .sign_in("ann@example.com", "password1")
        .await
        .expect("login");
    let header = jsonwebtoken::decode_header(&later.access_token).expect("header");
    assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
    assert_eq!(
        auth.jwks().await.expect("jwks")["keys"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // Another process (a second service on the same store) verifies the new key too.
    drop(auth);
    let reopened = service(&dir, "todo").await;
    assert!(reopened.verify(&later.access_token).await.is_ok());
}

#[tokio::test]
async fn admin_operations() {
    let dir = tempfile::tempdir().expect("dir");
    let auth = service(&dir, "todo").await;
    let user = auth
        .create_user(
            "ann@example.com",
            "password1",
            "authenticated",
            serde_json::Value::Null,
        )
        .await
        .expect("create");
    auth.set_role(&user.id, "admin").await.expect("role");
    let login = auth
        .sign_in("ann@example.com", "password1")
        .await
        .expect("login");
    assert_eq!(
        auth.verify(&login.access_token).await.expect("verify").role,
        "admin"
    );
    assert_eq!(auth.list_users().await.expect("list").len(), 1);
    auth.delete_user(&user.id).await.expect("delete");
    assert!(auth.list_users().await.expect("list").is_empty());
    assert!(auth.authenticate(&login.access_token).await.is_err());
    assert!(auth.sign_in("ann@example.com", "password1").await.is_err());
    assert!(auth.set_role("nobody", "admin").await.is_err());
    assert!(auth.set_role(&user.id, "bad role").await.is_err());
}

fn changes(email: &str, password: &str) -> AdminUserChanges {
    AdminUserChanges {
        email: Some(email.into()),
        password: Some(password.into()),
        ..AdminUserChanges::default()
    }
}

#[tokio::test]
async fn admin_created_users_sign_in_once_confirmed() {
    let dir = tempfile::tempdir().expect("dir");
    let auth = service(&dir, "todo").await;
    let user = auth
        .admin_create_user(changes("ann@example.com", "password1"))
        .await
        .expect("create");
    assert!(user.to_json()["email_confirmed_at"].is_null());
    assert!(matches!(
        auth.sign_in("ann@example.com", "password1").await,
        Err(AuthError::EmailNotConfirmed)
    ));
    let confirm = AdminUserChanges {
        email_confirm: true,
        role: Some("editor".into()),
        app_metadata: serde_json::json!({"plan": "pro", "provider": "forged"})
            .as_object()
            .cloned(),
        ..AdminUserChanges::default()
    };
    let user = auth
        .admin_update_user(&user.id, confirm)
        .await
        .expect("confirm");
    assert_eq!(user.role, "editor");
    let forged = AdminUserChanges {
        role: Some(SERVICE_ROLE.into()),
        ..AdminUserChanges::default()
    };
    assert!(matches!(
        auth.admin_update_user(&user.id, forged).await,
        Err(AuthError::Invalid(_))
    ));
    assert_eq!(user.app_metadata_json()["provider"], "email");
    assert_eq!(user.app_metadata_json()["plan"], "pro");
    let session = auth
        .sign_in("ann@example.com", "password1")
        .await
        .expect("confirmed");
    let claims = auth.verify(&session.access_token).await.expect("token");
    assert_eq!(claims.role, "editor");
}

#[tokio::test]
async fn an_admin_email_change_moves_the_claim_and_never_takes_anothers() {
    let dir = tempfile::tempdir().expect("dir");
    let auth = service(&dir, "todo").await;
    let ann = signed_up_ann(&auth).await.user;
    let bob = auth
        .signup("bob@example.com", "password1", serde_json::Value::Null)
        .await
        .expect("bob")
        .user;
    let moved = AdminUserChanges {
        email: Some("Ann2@example.com".into()),
        email_confirm: true,
        ..AdminUserChanges::default()
    };
    auth.admin_update_user(&ann.id, moved).await.expect("move");
    assert_eq!(
        auth.user_by_email("ann2@example.com")
            .await
            .expect("new")
            .id,
        ann.id
    );
    auth.signup("ann@example.com", "password1", serde_json::Value::Null)
        .await
        .expect("the old address is free again");
    let steal = AdminUserChanges {
        email: Some("ann2@example.com".into()),
        ..AdminUserChanges::default()
    };
    assert!(matches!(
        auth.admin_update_user(&bob.id, steal).await,
        Err(AuthError::EmailTaken)
    ));
    assert_eq!(
        auth.user(&bob.id).await.expect("bob").email,
        "bob@example.com"
    );
}

#[tokio::test]
async fn users_are_listed_newest_first_page_by_page() {
    let dir = tempfile::tempdir().expect("dir");
    let auth = service(&dir, "todo").await;
    for name in ["a", "b", "c"] {
        auth.admin_create_user(changes(&format!("{name}@example.com"), "password1"))
            .await
            .expect("create");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let first = auth.list_users_page(1, 2).await.expect("page 1");
    assert_eq!(first.total, 3);
    let emails: Vec<_> = first.users.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(emails, ["c@example.com", "b@example.com"]);
    let second = auth.list_users_page(2, 2).await.expect("page 2");
    assert_eq!(second.users.len(), 1);
    assert_eq!(second.users[0].email, "a@example.com");
    assert!(
        auth.list_users_page(3, 2)
            .await
            .expect("page 3")
            .users
            .is_empty()
    );
}

#[tokio::test]
async fn anonymous_users_are_off_by_default_and_can_become_permanent() {
    let dir = tempfile::tempdir().expect("dir");
    let auth = service(&dir, "todo").await;
    assert!(matches!(
        auth.sign_in_anonymously(serde_json::json!({})).await,
        Err(AuthError::AnonymousDisabled)
    ));
    let mut config = AuthConfig::new("anon");
    config.anonymous_sign_in = true;
    let kv = RedbKvStore::open(&dir.path().join("anon.redb")).expect("kv");
    let auth = AuthService::open(Arc::new(kv), config).await.expect("auth");
    let session = auth
        .sign_in_anonymously(serde_json::json!({}))
        .await
        .expect("anonymous");
    let claims = auth.verify(&session.access_token).await.expect("token");
    assert!(claims.is_anonymous);
    assert_eq!(claims.email, None);
    assert!(matches!(
        auth.make_permanent(&session.user, None, Some("password1".into()), None)
            .await,
        Err(AuthError::Unprocessable(_))
    ));
    let user = auth
        .make_permanent(
            &session.user,
            Some("anon@example.com".into()),
            Some("password1".into()),
            None,
        )
        .await
        .expect("permanent");
    assert!(!user.is_anonymous);
    assert_eq!(user.id, session.user.id);
    let signed_in = auth
        .sign_in("anon@example.com", "password1")
        .await
        .expect("password sign-in");
    assert_eq!(signed_in.user.id, session.user.id);
    auth.delete_user(&user.id).await.expect("delete");
}

#[tokio::test]
async fn a_link_works_once_and_a_new_issue_voids_the_old_one() {
    let dir = tempfile::tempdir().expect("dir");
    let auth = service(&dir, "todo").await;
    let user = auth
        .admin_create_user(changes("ann@example.com", "password1"))
        .await
        .expect("create");
    let first = auth
        .issue_link(LinkKind::Signup, &user, "ann@example.com", None, None)
        .await
        .expect("issue");
    let second = auth
        .issue_link(LinkKind::Signup, &user, "ann@example.com", None, None)
        .await
        .expect("issue again");
    assert!(matches!(
        auth.use_link_token(&first.token_hash, &[LinkKind::Signup])
            .await,
        Err(AuthError::OtpExpired)
    ));
    assert!(matches!(
        auth.use_link_token(&second.token_hash, &[LinkKind::Recovery])
            .await,
        Err(AuthError::OtpExpired)
    ));
    let used = auth
        .use_link_token(&second.token_hash, &[LinkKind::Signup])
        .await
        .expect("the newest link");
    assert!(used.user.email_confirmed_at_ms().is_some());
    assert!(matches!(
        auth.use_link_code("ann@example.com", &second.code, &[LinkKind::Signup])
            .await,
        Err(AuthError::OtpExpired)
    ));
}

/// Ann, a magic link issued to her, and a code that is not its code.
async fn magic_link_for_ann(auth: &AuthService) -> (User, IssuedLink, &'static str) {
    let user = signed_up_ann(auth).await.user;
    let issued = auth
        .issue_link(LinkKind::Magiclink, &user, "ann@example.com", None, None)
        .await
        .expect("issue");
    let wrong = if issued.code == "000000" {
        "111111"
    } else {
        "000000"
    };
    (user, issued, wrong)
}

#[tokio::test]
async fn a_code_has_a_few_tries_and_pkce_needs_the_verifier() {
    let dir = tempfile::tempdir().expect("dir");
    let auth = service(&dir, "todo").await;
    let (user, issued, wrong) = magic_link_for_ann(&auth).await;
    for _ in 0..MAX_CODE_ATTEMPTS {
        assert!(
            auth.use_link_code("ann@example.com", wrong, &[LinkKind::Magiclink])
                .await
                .is_err()
        );
    }
    assert!(
        matches!(
            auth.use_link_code("ann@example.com", &issued.code, &[LinkKind::Magiclink])
                .await,
            Err(AuthError::OtpExpired)
        ),
        "the issue is void after too many wrong codes"
    );

    let verifier = "v".repeat(50);
    let pkce = Pkce::from_request(Some(&verifier), Some("plain"))
        .expect("valid")
        .expect("some");
    let code = auth.issue_auth_code(&user, pkce).await.expect("code");
    assert!(auth.exchange_auth_code(&code, "w").await.is_err());
    assert!(
        auth.exchange_auth_code(&code, &verifier).await.is_err(),
        "a failed exchange spends the code"
    );
    let pkce = Pkce::from_request(Some(&verifier), Some("plain"))
        .expect("valid")
        .expect("some");
    let code = auth.issue_auth_code(&user, pkce).await.expect("code");
    let session = auth
        .exchange_auth_code(&code, &verifier)
        .await
        .expect("exchange");
    assert_eq!(session.user.id, user.id);
}

#[tokio::test]
async fn parallel_wrong_codes_each_count() {
    let dir = tempfile::tempdir().expect("dir");
    let auth = Arc::new(service(&dir, "todo").await);
    let (_, issued, wrong) = magic_link_for_ann(&auth).await;
    let guesses: Vec<_> = (0..MAX_CODE_ATTEMPTS)
        .map(|_| {
            let auth = Arc::clone(&auth);
            tokio::spawn(async move {
                auth.use_link_code("ann@example.com", wrong, &[LinkKind::Magiclink])
                    .await
            })
        })
        .collect();
    for guess in guesses {
        assert!(guess.await.expect("join").is_err());
    }
    assert!(matches!(
        auth.use_link_code("ann@example.com", &issued.code, &[LinkKind::Magiclink])
            .await,
        Err(AuthError::OtpExpired)
    ));
}
