//! `/auth/v1`: signup, password and refresh-token grants, the user, logout and the JWKS, in
//! the wire format of Supabase's auth server (GoTrue), so `@supabase/auth-js` works unchanged.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use nimbus_auth::{AuthError, Claims, LinkKind, LogoutScope, Pkce};
use nimbus_limits::Quota;
use serde::Deserialize;

use super::caller::Credentials;
use super::edge::ErrorDetail;
use super::version::Current;
use crate::app_version::AppVersion;
use crate::host::Host;

/// The `/auth/v1` routes.
pub fn routes() -> axum::Router<Arc<Host>> {
    axum::Router::new()
        .route("/signup", post(signup))
        .route("/token", post(token))
        .route("/logout", post(logout))
        .route("/user", get(get_user).put(update_user))
        .route("/reauthenticate", get(reauthenticate))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/settings", get(settings))
        .route("/health", get(health))
        .route("/authorize", get(super::not_offered::authorize))
        .route("/invite", post(super::auth_admin_api::invite))
        .nest("/admin", super::auth_admin_api::routes())
        .merge(super::auth_email_api::routes())
}

/// An auth failure in GoTrue's shape: `{code, error_code, msg}` for the client's `AuthError`,
/// plus OAuth's `{error, error_description}`.
pub(super) struct AuthFailure(pub(super) AuthError);

impl IntoResponse for AuthFailure {
    fn into_response(self) -> Response {
        let error = self.0;
        let status =
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = if status.is_server_error() {
            "the auth service failed; see the host log".to_string()
        } else {
            error.to_string()
        };
        let mut body = serde_json::json!({
            "code": status.as_u16(),
            "error_code": error.code(),
            "msg": message,
            "error": error.code(),
            "error_description": message,
        });
        if let AuthError::WeakPassword(_) = &error {
            body["weak_password"] = serde_json::json!({ "reasons": ["length"] });
        }
        let mut response = (status, Json(body)).into_response();
        if status.is_server_error() {
            response
                .extensions_mut()
                .insert(ErrorDetail(format!("auth: {error}")));
        }
        if let AuthError::Throttled { retry_after } = error {
            let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<AuthError> for AuthFailure {
    fn from(error: AuthError) -> Self {
        Self(error)
    }
}

pub(super) type AuthResult = Result<Response, AuthFailure>;

pub(super) fn require_api_key(credentials: &Credentials) -> Result<(), AuthFailure> {
    if credentials.api_key_ok() {
        Ok(())
    } else {
        Err(AuthFailure(AuthError::InvalidToken(
            "this app requires its publishable key in the `apikey` header".into(),
        )))
    }
}

/// The verified claims of the request's bearer token, with a live session.
async fn authenticated(
    app: &Arc<AppVersion>,
    credentials: &Credentials,
) -> Result<Claims, AuthFailure> {
    let token = credentials
        .token()
        .ok_or_else(|| AuthFailure(AuthError::InvalidToken("no bearer token".into())))?
        .to_string();
    let (claims, _) = app.services.auth.authenticate(&token).await?;
    Ok(claims)
}

pub(super) fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, AuthFailure> {
    serde_json::from_slice(body)
        .map_err(|e| AuthFailure(AuthError::Invalid(format!("invalid JSON body: {e}"))))
}

#[derive(Deserialize)]
struct EmailPassword {
    email: Option<String>,
    password: Option<String>,
    #[serde(default)]
    data: Option<serde_json::Value>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

impl EmailPassword {
    /// A signup with neither email nor password: `signInAnonymously`.
    fn is_anonymous(&self) -> bool {
        let blank = |field: &Option<String>| field.as_deref().is_none_or(str::is_empty);
        blank(&self.email) && blank(&self.password)
    }

    fn required(self) -> Result<(String, String, serde_json::Value), AuthFailure> {
        match (self.email, self.password) {
            (Some(email), Some(password)) => Ok((
                email,
                password,
                self.data.unwrap_or_else(|| serde_json::json!({})),
            )),
            _ => Err(AuthFailure(AuthError::Invalid(
                "email and password are required".into(),
            ))),
        }
    }
}

/// Takes one request from the caller's bucket, shared by every process of the host: per
/// address for IPv4, per /64 for IPv6 (one client usually holds a whole /64).
pub(super) fn throttle(
    host: &Host,
    app: &AppVersion,
    peer: IpAddr,
    headers: &HeaderMap,
) -> Result<(), AuthFailure> {
    let config = app.services.auth.config();
    let manifest = &app.manifest;
    let client = super::client_address::client_ip(
        &manifest.trusted_proxies,
        manifest.forwarded_header,
        peer,
        headers,
    );
    let quota = Quota::per_minute(config.ip_burst, config.ip_per_minute);
    host.limits
        .check(
            "auth-address",
            &super::rate_limit::client_key(client),
            quota,
        )
        .map_err(|retry_after| {
            crate::metrics::lockout();
            AuthFailure(AuthError::Throttled { retry_after })
        })
}

async fn signup(
    State(host): State<Arc<Host>>,
    Current(app): Current,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<super::auth_email_api::RedirectQuery>,
    credentials: Credentials,
    body: axum::body::Bytes,
) -> AuthResult {
    require_api_key(&credentials)?;
    throttle(&host, &app, peer.ip(), &headers)?;
    let request = parse::<EmailPassword>(&body)?;
    if request.is_anonymous() {
        let data = request.data.unwrap_or_else(|| serde_json::json!({}));
        if !data.is_object() {
            return Err(AuthFailure(AuthError::Invalid(
                "`data` must be an object".into(),
            )));
        }
        let session = app.services.auth.sign_in_anonymously(data).await?;
        tracing::info!(user = %session.user.id, "signed in anonymously");
        return Ok(Json(session.to_json()).into_response());
    }
    let pkce = Pkce::from_request(
        request.code_challenge.as_deref(),
        request.code_challenge_method.as_deref(),
    )?;
    let (email, password, data) = request.required()?;
    let Some(data) = data.as_object().cloned() else {
        return Err(AuthFailure(AuthError::Invalid(
            "`data` must be an object".into(),
        )));
    };
    if app.manifest.auth_email.confirm_signup {
        // The user waits for the link in the mail; no session until then.
        let redirect_to = super::auth_email_api::allowed_redirect(&app, query.redirect_to)?;
        super::auth_email_api::limit_recipient(&host, &email)?;
        let auth = &app.services.auth;
        let changes = nimbus_auth::AdminUserChanges {
            email: Some(email.clone()),
            password: Some(password),
            user_metadata: Some(data.clone()),
            ..nimbus_auth::AdminUserChanges::default()
        };
        let user = match auth.admin_create_user(changes).await {
            Ok(user) => user,
            // As GoTrue does, a sign-up for a taken address looks like any other (a user
            // waiting for confirmation), so that sign-up does not tell who has an account.
            Err(AuthError::EmailTaken) => {
                return Ok(Json(obfuscated_user(&email, &data)?).into_response());
            }
            Err(other) => return Err(AuthFailure(other)),
        };
        let issued = auth
            .issue_link(LinkKind::Signup, &user, &user.email, redirect_to, pkce)
            .await?;
        tracing::info!(user = %user.id, "signed up; confirmation to be sent");
        // The mail goes after the answer, so that a new address and a taken one (which sends
        // nothing) take the same time.
        let answer = Json(user.to_json()).into_response();
        tokio::spawn(async move {
            // send_link logs its own failure.
            let _ = super::auth_email_api::send_link(&host, &app, &issued).await;
        });
        return Ok(answer);
    }
    let session = app
        .services
        .auth
        .signup(&email, &password, serde_json::Value::Object(data))
        .await?;
    tracing::info!(user = %session.user.id, "signed up");
    Ok(Json(session.to_json()).into_response())
}

#[derive(Deserialize)]
struct GrantQuery {
    grant_type: Option<String>,
}

#[derive(Deserialize)]
struct PkceBody {
    auth_code: Option<String>,
    code_verifier: Option<String>,
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: Option<String>,
}

async fn token(
    State(host): State<Arc<Host>>,
    Current(app): Current,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<GrantQuery>,
    credentials: Credentials,
    body: axum::body::Bytes,
) -> AuthResult {
    require_api_key(&credentials)?;
    throttle(&host, &app, peer.ip(), &headers)?;
    let session = match query.grant_type.as_deref() {
        Some("password") => {
            let (email, password, _) = parse::<EmailPassword>(&body)?.required()?;
            let signed_in = app.services.auth.sign_in(&email, &password).await;
            match &signed_in {
                Err(AuthError::Throttled { .. }) => crate::metrics::lockout(),
                outcome => crate::metrics::login(outcome.is_ok()),
            }
            signed_in?
        }
        Some("pkce") => {
            let request = parse::<PkceBody>(&body)?;
            let (Some(code), Some(verifier)) = (request.auth_code, request.code_verifier) else {
                return Err(AuthFailure(AuthError::Invalid(
                    "auth_code and code_verifier are required".into(),
                )));
            };
            app.services
                .auth
                .exchange_auth_code(&code, &verifier)
                .await?
        }
        Some("refresh_token") => {
            let token = parse::<RefreshBody>(&body)?.refresh_token.ok_or_else(|| {
                AuthFailure(AuthError::Invalid("refresh_token is required".into()))
            })?;
            app.services.auth.refresh(&token).await?
        }
        other => {
            return Err(AuthFailure(AuthError::Invalid(format!(
                "unsupported grant_type {:?}; use password, refresh_token or pkce",
                other.unwrap_or_default()
            ))));
        }
    };
    Ok(Json(session.to_json()).into_response())
}

#[derive(Deserialize)]
struct ScopeQuery {
    scope: Option<String>,
}

async fn logout(
    Current(app): Current,
    Query(query): Query<ScopeQuery>,
    credentials: Credentials,
) -> AuthResult {
    require_api_key(&credentials)?;
    let scope = match query.scope.as_deref().unwrap_or("global") {
        "global" => LogoutScope::Global,
        "local" => LogoutScope::Local,
        "others" => LogoutScope::Others,
        other => {
            return Err(AuthFailure(AuthError::Invalid(format!(
                "scope `{other}` is not one of global, local, others"
            ))));
        }
    };
    let claims = authenticated(&app, &credentials).await?;
    app.services.auth.logout(&claims, scope).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_user(Current(app): Current, credentials: Credentials) -> AuthResult {
    require_api_key(&credentials)?;
    let claims = authenticated(&app, &credentials).await?;
    let user = app.services.auth.user(&claims.sub).await?;
    Ok(Json(user.to_json()).into_response())
}

#[derive(Deserialize)]
struct UserUpdate {
    password: Option<String>,
    data: Option<serde_json::Map<String, serde_json::Value>>,
    email: Option<String>,
    /// The code `reauthenticate` mailed, for a password change.
    nonce: Option<String>,
}

async fn update_user(
    State(host): State<Arc<Host>>,
    Current(app): Current,
    Query(query): Query<super::auth_email_api::RedirectQuery>,
    credentials: Credentials,
    body: axum::body::Bytes,
) -> AuthResult {
    require_api_key(&credentials)?;
    let claims = authenticated(&app, &credentials).await?;
    let update: UserUpdate = parse(&body)?;
    let auth = &app.services.auth;
    let current = auth.user(&claims.sub).await?;
    // An anonymous user becomes permanent at once where sign-ups need no confirmation (as
    // in Supabase with autoconfirm); otherwise the new email waits for its link, like any
    // email change, and the user stays anonymous until it is followed.
    if current.is_anonymous && !app.manifest.auth_email.confirm_signup {
        let user = auth
            .make_permanent(&current, update.email, update.password, update.data)
            .await?;
        return Ok(Json(user.to_json()).into_response());
    }
    if current.is_anonymous && update.email.is_none() && update.password.is_some() {
        return Err(AuthFailure(AuthError::Unprocessable(
            "Updating password of an anonymous user without an email or phone is not allowed"
                .into(),
        )));
    }
    if let Some(password) = &update.password {
        // A password the policy refuses spends no code and sends no mail.
        nimbus_auth::password::check_policy(password)?;
        match update.nonce.as_deref().filter(|n| !n.is_empty()) {
            Some(nonce) => {
                let kinds = [LinkKind::Reauthentication];
                auth.use_link_code(&current.email, nonce.trim(), &kinds)
                    .await
                    .map_err(|_| {
                        AuthFailure(AuthError::Unprocessable(
                            "Nonce has expired or is invalid".into(),
                        ))
                    })?;
            }
            // As GoTrue, a sign-in within the last day counts as recent enough.
            None if app.manifest.auth_email.secure_password_change
                && current
                    .last_sign_in_at_ms
                    .is_none_or(|at| now_ms().saturating_sub(at) > RECENT_SIGN_IN_MS) =>
            {
                return Err(AuthFailure(AuthError::Invalid(
                    "Password update requires reauthentication: call reauthenticate, then send the mailed code as `nonce`".into(),
                )));
            }
            None => {}
        }
    }
    let same_email = |email: &String| {
        nimbus_auth::normalize_email(email).is_ok_and(|email| email == current.email)
    };
    if let Some(new_email) = update.email.filter(|email| !same_email(email)) {
        // The change waits for the link sent to the new address.
        super::auth_email_api::limit_recipient(&host, &new_email)?;
        let redirect_to = super::auth_email_api::allowed_redirect(&app, query.redirect_to)?;
        let user = auth.request_email_change(&claims.sub, &new_email).await?;
        let issued = auth
            .issue_link(LinkKind::EmailChange, &user, &new_email, redirect_to, None)
            .await?;
        super::auth_email_api::send_link(&host, &app, &issued).await?;
        if update.password.is_none() && update.data.is_none() {
            return Ok(Json(user.to_json()).into_response());
        }
    }
    let user = app
        .services
        .auth
        .update_user(&claims.sub, update.password.as_deref(), update.data)
        .await?;
    Ok(Json(user.to_json()).into_response())
}

/// What a sign-up of a taken address answers when sign-ups need confirmation: a new-looking
/// unconfirmed user that is stored nowhere.
fn obfuscated_user(
    email: &str,
    data: &serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Value, AuthFailure> {
    let now = now_ms();
    let mut id = [0u8; 16];
    getrandom::fill(&mut id)
        .map_err(|e| AuthFailure(AuthError::Internal(format!("no randomness: {e}"))))?;
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    let hex = hex::encode(id);
    let user = nimbus_auth::User {
        id: format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        ),
        email: nimbus_auth::normalize_email(email)?,
        password_hash: String::new(),
        role: nimbus_auth::DEFAULT_ROLE.to_string(),
        user_metadata: {
            let mut metadata = serde_json::json!({});
            nimbus_auth::merge_metadata(&mut metadata, data);
            metadata
        },
        created_at_ms: now,
        updated_at_ms: now,
        last_sign_in_at_ms: None,
        app_metadata: serde_json::json!({}),
        email_unconfirmed: true,
        confirmed_at_ms: None,
        is_anonymous: false,
        email_change: None,
    };
    Ok(user.to_json())
}

/// How recent a sign-in lets a password change go without a reauthentication code.
const RECENT_SIGN_IN_MS: u64 = 24 * 3600 * 1000;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `GET /reauthenticate`: `auth.reauthenticate()`, a code (the `nonce` of a password change)
/// mailed to the signed-in user.
async fn reauthenticate(
    State(host): State<Arc<Host>>,
    Current(app): Current,
    credentials: Credentials,
) -> AuthResult {
    require_api_key(&credentials)?;
    let claims = authenticated(&app, &credentials).await?;
    let auth = &app.services.auth;
    let user = auth.user(&claims.sub).await?;
    if user.is_anonymous || user.email.is_empty() {
        return Err(AuthFailure(AuthError::Invalid(
            "Reauthentication requires the user to have an email".into(),
        )));
    }
    if user.email_unconfirmed {
        return Err(AuthFailure(AuthError::EmailNotConfirmed));
    }
    super::auth_email_api::limit_recipient(&host, &user.email)?;
    let issued = auth
        .issue_link(LinkKind::Reauthentication, &user, &user.email, None, None)
        .await?;
    super::auth_email_api::send_link(&host, &app, &issued).await?;
    Ok(Json(serde_json::json!({})).into_response())
}

async fn jwks(Current(app): Current) -> AuthResult {
    let jwks = app.services.auth.jwks().await?;
    let mut response = Json(jwks).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=600"),
    );
    Ok(response)
}

async fn settings(Current(app): Current) -> Json<serde_json::Value> {
    let anonymous = app.manifest.anonymous_sign_in;
    Json(serde_json::json!({
        "external": { "email": true, "phone": false, "anonymous_users": anonymous },
        "disable_signup": false,
        "mailer_autoconfirm": !app.manifest.auth_email.confirm_signup,
        "phone_autoconfirm": false,
        "sms_provider": "",
        "saml_enabled": false,
    }))
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "name": "nimbus-auth", "description": "nimbus built-in auth" }))
}
