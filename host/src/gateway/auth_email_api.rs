//! The email flows of `/auth/v1`, in GoTrue's wire format: magic links and codes
//! (`signInWithOtp`), password recovery, resending, following a link (`/verify`) or typing its
//! code (`verifyOtp`), and the PKCE exchange (`exchangeCodeForSession`).
//!
//! Every endpoint that sends mail takes one request from the caller's address bucket and one
//! from the recipient's, so neither a client nor a victim's inbox can be flooded. Recovery,
//! and sign-up when it needs confirmation, answer alike whether or not the address has an
//! account, as GoTrue's do; `signInWithOtp` with `create_user: false` tells, as GoTrue's does.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use nimbus_auth::{AdminUserChanges, AuthError, IssuedLink, LinkKind, Pkce, Session, UsedLink};
use nimbus_limits::Quota;
use serde::Deserialize;

use super::auth_api::{AuthFailure, AuthResult, parse, require_api_key, throttle};
use super::caller::Credentials;
use super::version::Current;
use crate::app_version::AppVersion;
use crate::host::Host;

/// The email routes, merged into `/auth/v1`.
pub fn routes() -> axum::Router<Arc<Host>> {
    axum::Router::new()
        .route("/otp", post(otp))
        .route("/recover", post(recover))
        .route("/resend", post(resend))
        .route("/verify", get(verify_link).post(verify_code))
}

/// Mails one recipient may be sent: one at once, one more a minute.
fn recipient_quota() -> Quota {
    Quota::per_minute(1, 1)
}

/// Takes one mail from `email`'s bucket.
pub(super) fn limit_recipient(host: &Host, email: &str) -> Result<(), AuthFailure> {
    let email = email.trim().to_lowercase();
    // Host-wide on purpose: the inbox is the same whichever app sends to it.
    host.limits
        .check("auth-mail-recipient", email.as_bytes(), recipient_quota())
        .map_err(|retry_after| AuthFailure(AuthError::Throttled { retry_after }))
}

#[derive(Deserialize)]
pub(super) struct RedirectQuery {
    pub(super) redirect_to: Option<String>,
}

/// The request's `redirect_to`, when `[auth]` allows it; one it does not allow is refused
/// rather than replaced, so that a mistyped URL is seen at once.
pub(super) fn allowed_redirect(
    app: &AppVersion,
    redirect_to: Option<String>,
) -> Result<Option<String>, AuthFailure> {
    match redirect_to.filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(url) if app.manifest.auth_links.allows(&url) => Ok(Some(url)),
        Some(url) => Err(AuthFailure(AuthError::Invalid(format!(
            "redirect_to `{url}` is not the site_url or one of the redirect_urls under [auth] in nimbus.toml"
        )))),
    }
}

/// Sends the mail for `issued` through the app's mailer.
pub(super) async fn send_link(
    host: &Host,
    app: &AppVersion,
    issued: &IssuedLink,
) -> Result<(), AuthFailure> {
    let mail = crate::auth_mail::compose(&app.manifest, &host.public_url(), issued);
    app.mailer.send(&mail).await.map_err(|error| {
        tracing::error!(%error, kind = issued.kind.as_str(), "an auth mail was not sent");
        AuthFailure(AuthError::Internal(format!("mail not sent: {error}")))
    })?;
    crate::metrics::mail_sent(issued.kind.as_str());
    Ok(())
}

/// The body of every request that sends a mail (each reads what it needs).
#[derive(Deserialize)]
struct MailRequest {
    email: Option<String>,
    phone: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    data: Option<serde_json::Map<String, serde_json::Value>>,
    create_user: Option<bool>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// A mail request that passed every check: the key, the client's and the recipient's
/// buckets, the address, the redirect and the PKCE challenge.
struct CheckedMail {
    email: String,
    redirect_to: Option<String>,
    pkce: Option<Pkce>,
    request: MailRequest,
}

/// Every mail endpoint takes its request through [`check_mail_request`] before it reads it.
impl FromRequest<Arc<Host>> for CheckedMail {
    type Rejection = Response;

    async fn from_request(request: Request, host: &Arc<Host>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let app = super::version::of(&mut parts, host);
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(&mut parts, host)
            .await
            .map_err(IntoResponse::into_response)?;
        let Query(query) = Query::<RedirectQuery>::from_request_parts(&mut parts, host)
            .await
            .map_err(IntoResponse::into_response)?;
        let credentials = Credentials::read(&app, &parts.headers, parts.uri.query()).await;
        let headers = parts.headers.clone();
        let body = axum::body::Bytes::from_request(Request::from_parts(parts, body), host)
            .await
            .map_err(IntoResponse::into_response)?;
        check_mail_request(
            host,
            &app,
            peer,
            &headers,
            &credentials,
            query.redirect_to,
            &body,
        )
        .map_err(IntoResponse::into_response)
    }
}

fn check_mail_request(
    host: &Host,
    app: &AppVersion,
    peer: SocketAddr,
    headers: &HeaderMap,
    credentials: &Credentials,
    redirect_to: Option<String>,
    body: &[u8],
) -> Result<CheckedMail, AuthFailure> {
    require_api_key(credentials)?;
    throttle(host, app, peer.ip(), headers)?;
    let request: MailRequest = parse(body)?;
    if request.phone.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(AuthFailure(AuthError::Invalid(
            "phone sign-in is not offered by nimbus".into(),
        )));
    }
    let email = request
        .email
        .as_deref()
        .ok_or_else(|| AuthFailure(AuthError::Invalid("email is required".into())))?;
    let email = nimbus_auth::normalize_email(email)?;
    let redirect_to = allowed_redirect(app, redirect_to)?;
    let pkce = Pkce::from_request(
        request.code_challenge.as_deref(),
        request.code_challenge_method.as_deref(),
    )?;
    limit_recipient(host, &email)?;
    Ok(CheckedMail {
        email,
        redirect_to,
        pkce,
        request,
    })
}

/// `POST /otp`: `signInWithOtp`, a magic link and a code in one mail (a confirmation, for an
/// address that had no account).
async fn otp(
    State(host): State<Arc<Host>>,
    Current(app): Current,
    checked: CheckedMail,
) -> AuthResult {
    let auth = &app.services.auth;
    let (user, kind) = match auth.user_by_email(&checked.email).await {
        Ok(user) => (user, LinkKind::Magiclink),
        Err(AuthError::UserNotFound) if checked.request.create_user.unwrap_or(true) => {
            let changes = AdminUserChanges {
                email: Some(checked.email.clone()),
                user_metadata: checked.request.data,
                ..AdminUserChanges::default()
            };
            (auth.admin_create_user(changes).await?, LinkKind::Signup)
        }
        Err(AuthError::UserNotFound) => {
            return Err(AuthFailure(AuthError::Unprocessable(
                "Signups not allowed for otp".into(),
            )));
        }
        Err(other) => return Err(AuthFailure(other)),
    };
    let issued = auth
        .issue_link(
            kind,
            &user,
            &checked.email,
            checked.redirect_to,
            checked.pkce,
        )
        .await?;
    send_link(&host, &app, &issued).await?;
    Ok(Json(serde_json::json!({})).into_response())
}

/// `POST /recover`: `resetPasswordForEmail`. The answer is the same whether or not the
/// address has an account.
async fn recover(
    State(host): State<Arc<Host>>,
    Current(app): Current,
    checked: CheckedMail,
) -> AuthResult {
    // Known and unknown addresses answer alike and at once: the mail goes out after the
    // answer, so neither its time nor a failure of the mail server tells them apart.
    let email = checked.email;
    tokio::spawn(async move {
        let auth = &app.services.auth;
        let issued = match auth.user_by_email(&email).await {
            Ok(user) => {
                auth.issue_link(
                    LinkKind::Recovery,
                    &user,
                    &email,
                    checked.redirect_to,
                    checked.pkce,
                )
                .await
            }
            Err(AuthError::UserNotFound) => return,
            Err(other) => Err(other),
        };
        match issued {
            Ok(issued) => {
                // send_link logs its own failure.
                let _ = send_link(&host, &app, &issued).await;
            }
            Err(error) => tracing::error!(%error, "a recovery link was not issued"),
        }
    });
    Ok(Json(serde_json::json!({})).into_response())
}

/// `POST /resend`: a new sign-up confirmation, or a new email-change confirmation, replacing
/// the one before.
async fn resend(
    State(host): State<Arc<Host>>,
    Current(app): Current,
    checked: CheckedMail,
) -> AuthResult {
    let (email, redirect_to) = (&checked.email, checked.redirect_to);
    let auth = &app.services.auth;
    let user = match checked.request.kind.as_deref() {
        Some("signup") => match auth.user_by_email(email).await {
            Ok(user) if user.email_unconfirmed => Some((LinkKind::Signup, user)),
            Ok(_) | Err(AuthError::UserNotFound) => None,
            Err(other) => return Err(AuthFailure(other)),
        },
        Some("email_change") => auth
            .user_by_pending_email(email)
            .await?
            .map(|user| (LinkKind::EmailChange, user)),
        other => {
            return Err(AuthFailure(AuthError::Invalid(format!(
                "resend type {:?} is not signup or email_change (phone is not offered)",
                other.unwrap_or_default()
            ))));
        }
    };
    if let Some((kind, user)) = user {
        let issued = auth
            .issue_link(kind, &user, email, redirect_to, None)
            .await?;
        send_link(&host, &app, &issued).await?;
    }
    Ok(Json(serde_json::json!({})).into_response())
}

#[derive(Deserialize)]
struct VerifyLinkQuery {
    token: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Where the browser goes when a link names no `redirect_to`: the site URL, else this host.
fn landing(host: &Host, app: &AppVersion) -> String {
    app.manifest
        .auth_links
        .site_url
        .clone()
        .unwrap_or_else(|| host.public_url())
}

/// A 303 to `to`, which `[auth]` allowed (so it holds no control characters); should it still
/// not make a header, the answer says so instead of leaving the browser nowhere.
fn redirect(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(location) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(header::LOCATION, location);
            response
        }
        Err(_) => AuthFailure(AuthError::Invalid(
            "the redirect URL cannot be sent as a Location header".into(),
        ))
        .into_response(),
    }
}

fn form_encode(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| {
            format!(
                "{name}={}",
                nimbus_objects::url_encode(value).replace('/', "%2F")
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `GET /verify?token=&type=`: the link in a mail. It sends the browser on to where the link
/// was issued for (checked then), with the session in the fragment, or, under PKCE, with an
/// authorization code in the query; a used or expired link lands there with the error in the
/// fragment, as GoTrue does.
async fn verify_link(
    State(host): State<Arc<Host>>,
    Current(app): Current,
    Query(query): Query<VerifyLinkQuery>,
) -> Response {
    let fallback = landing(&host, &app);
    let used = async {
        let kinds = LinkKind::from_type(query.kind.as_deref().unwrap_or_default())?;
        let token = query
            .token
            .as_deref()
            .ok_or_else(|| AuthError::Invalid("the link has no token".into()))?;
        app.services.auth.use_link_token(token, kinds).await
    }
    .await;
    let used = match used {
        Ok(used) => used,
        Err(error) => {
            let description = if error.status() >= 500 {
                tracing::error!(%error, "a link could not be used");
                "the auth service failed; see the host log".to_string()
            } else {
                error.to_string()
            };
            let fragment = form_encode(&[
                ("error", "access_denied".into()),
                ("error_code", error.code().into()),
                ("error_description", description),
            ]);
            return redirect(&format!("{fallback}#{fragment}"));
        }
    };
    let to = used.redirect_to.clone().unwrap_or(fallback);
    match land(&app, &used).await {
        Ok(Landing::Code(code)) => {
            // The code goes in the query, before any fragment the redirect URL has.
            let (address, fragment) = match to.split_once('#') {
                Some((address, fragment)) => (address, format!("#{fragment}")),
                None => (to.as_str(), String::new()),
            };
            let separator = if address.contains('?') { '&' } else { '?' };
            let code = nimbus_objects::url_encode(&code);
            redirect(&format!("{address}{separator}code={code}{fragment}"))
        }
        Ok(Landing::Session(session)) => {
            let fragment = form_encode(&[
                ("access_token", session.access_token.clone()),
                ("expires_at", session.expires_at.to_string()),
                ("expires_in", session.expires_in.to_string()),
                ("refresh_token", session.refresh_token.clone()),
                ("token_type", "bearer".into()),
                ("type", used.kind.as_str().into()),
            ]);
            // The session replaces any fragment the redirect URL had.
            let address = to
                .split_once('#')
                .map_or(to.as_str(), |(address, _)| address);
            redirect(&format!("{address}#{fragment}"))
        }
        Err(error) => AuthFailure(error).into_response(),
    }
}

enum Landing {
    Session(Box<Session>),
    Code(String),
}

async fn land(app: &AppVersion, used: &UsedLink) -> Result<Landing, AuthError> {
    let auth = &app.services.auth;
    match &used.pkce {
        Some(pkce) => Ok(Landing::Code(
            auth.issue_auth_code(&used.user, pkce.clone()).await?,
        )),
        None => Ok(Landing::Session(Box::new(
            auth.session_for(&used.user).await?,
        ))),
    }
}

#[derive(Deserialize)]
struct VerifyCodeRequest {
    #[serde(rename = "type")]
    kind: Option<String>,
    token: Option<String>,
    token_hash: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

/// `POST /verify`: `verifyOtp`, with the code and the address, or with the link's
/// `token_hash`: a session.
async fn verify_code(
    State(host): State<Arc<Host>>,
    Current(app): Current,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    credentials: Credentials,
    body: axum::body::Bytes,
) -> AuthResult {
    require_api_key(&credentials)?;
    throttle(&host, &app, peer.ip(), &headers)?;
    let request: VerifyCodeRequest = parse(&body)?;
    if request.phone.is_some_and(|p| !p.is_empty()) {
        return Err(AuthFailure(AuthError::Invalid(
            "phone sign-in is not offered by nimbus".into(),
        )));
    }
    let kinds = LinkKind::from_type(request.kind.as_deref().unwrap_or_default())?;
    if let Some(email) = &request.email {
        // Codes to one address are guessed from many client addresses at once: they share
        // this bucket.
        let key = format!("{}\n{}", app.manifest.app, email.trim().to_lowercase());
        host.limits
            .check("auth-verify-email", key.as_bytes(), Quota::per_minute(5, 5))
            .map_err(|retry_after| AuthFailure(AuthError::Throttled { retry_after }))?;
    }
    let auth = &app.services.auth;
    let used = match (request.token_hash, request.email, request.token) {
        (Some(token_hash), _, _) => auth.use_link_token(&token_hash, kinds).await?,
        (None, Some(email), Some(code)) => auth.use_link_code(&email, code.trim(), kinds).await?,
        _ => {
            return Err(AuthFailure(AuthError::Invalid(
                "verifyOtp needs `token_hash`, or `email` and `token`".into(),
            )));
        }
    };
    let session = auth.session_for(&used.user).await?;
    Ok(Json(session.to_json()).into_response())
}
