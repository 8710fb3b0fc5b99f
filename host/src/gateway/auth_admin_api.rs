//! `/auth/v1/admin`: user administration for the app's secret key, in the wire format of
//! Supabase's auth server, so `supabase.auth.admin` works unchanged with a client made from
//! the secret key.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::{Path, Query};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use nimbus_auth::{AdminUserChanges, AuthError, AuthService, LinkKind, User};
use serde::Deserialize;

use super::auth_api::{AuthFailure, AuthResult, parse};
use super::caller::Credentials;
use super::version::Current;
use crate::app_version::AppVersion;
use crate::host::Host;

/// Users per page when `per_page` is not given (Supabase's default).
const DEFAULT_PER_PAGE: usize = 50;
/// The largest page served.
const MAX_PER_PAGE: usize = 1000;

/// The `/auth/v1/admin` routes.
pub fn routes() -> axum::Router<Arc<Host>> {
    axum::Router::new()
        .route("/users", get(list_users).post(create_user))
        .route(
            "/users/{id}",
            get(get_user).put(update_user).delete(delete_user),
        )
        .route("/generate_link", post(generate_link))
}

/// Lets only the service role through, answering the others as Supabase does: a missing
/// credential or a token that does not verify is a 401, the publishable key or a user a 403.
async fn require_service(app: &AppVersion, credentials: &Credentials) -> Result<(), AuthFailure> {
    if credentials.is_service() {
        return Ok(());
    }
    let unauthorized = || {
        AuthFailure(AuthError::InvalidToken(
            "this endpoint requires the app's secret key (`nimbus keys show --secret`)".into(),
        ))
    };
    match credentials.claims(app).await {
        Err(_) => Err(unauthorized()),
        Ok(None) if !credentials.api_key_ok() => Err(unauthorized()),
        Ok(_) => Err(AuthFailure(AuthError::NotAdmin)),
    }
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<usize>,
    per_page: Option<usize>,
}

/// `GET /admin/users?page=&per_page=`: `{users, aud}`, with `X-Total-Count` and a `Link` to
/// the next and last pages, which auth-js reads for `nextPage`, `lastPage` and `total`.
async fn list_users(
    Current(app): Current,
    credentials: Credentials,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> AuthResult {
    require_service(&app, &credentials).await?;
    let Ok(Query(query)) = query else {
        return Err(AuthFailure(AuthError::Invalid(
            "`page` and `per_page` are positive whole numbers".into(),
        )));
    };
    let page = query.page.unwrap_or(1).max(1);
    let per_page = query
        .per_page
        .unwrap_or(DEFAULT_PER_PAGE)
        .clamp(1, MAX_PER_PAGE);
    let listed = app.services.auth.list_users_page(page, per_page).await?;
    let users: Vec<_> = listed.users.iter().map(|user| user.to_json()).collect();
    let mut response =
        Json(serde_json::json!({ "users": users, "aud": "authenticated" })).into_response();
    let last = listed.total.div_ceil(per_page).max(1);
    let link = |page: usize, rel: &str| {
        format!("</auth/v1/admin/users?page={page}&per_page={per_page}>; rel=\"{rel}\"")
    };
    let mut links = Vec::new();
    if page < last {
        links.push(link(page + 1, "next"));
    }
    links.push(link(last, "last"));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&links.join(", ")) {
        headers.insert(header::LINK, value);
    }
    headers.insert("x-total-count", HeaderValue::from(listed.total));
    Ok(response)
}

/// The body of `createUser` and `updateUserById`. What nimbus does not offer (phone sign-in,
/// bans, imported hashes, chosen ids) is refused by name rather than ignored.
#[derive(Deserialize)]
struct AdminUserBody {
    email: Option<String>,
    password: Option<String>,
    #[serde(default)]
    email_confirm: bool,
    role: Option<String>,
    user_metadata: Option<serde_json::Map<String, serde_json::Value>>,
    app_metadata: Option<serde_json::Map<String, serde_json::Value>>,
    ban_duration: Option<String>,
    phone: Option<String>,
    password_hash: Option<String>,
    id: Option<String>,
}

impl AdminUserBody {
    fn changes(self) -> Result<AdminUserChanges, AuthFailure> {
        let not_offered = |what: &str| {
            Err(AuthFailure(AuthError::Invalid(format!(
                "{what} is not offered by nimbus"
            ))))
        };
        if self.phone.as_deref().is_some_and(|p| !p.is_empty()) {
            return not_offered("phone sign-in (`phone`)");
        }
        if self
            .ban_duration
            .as_deref()
            .is_some_and(|d| !d.is_empty() && d != "none")
        {
            return not_offered("banning users (`ban_duration`)");
        }
        if self.password_hash.is_some() {
            return not_offered("importing password hashes (`password_hash`)");
        }
        if self.id.is_some() {
            return not_offered("choosing a user's id (`id`)");
        }
        Ok(AdminUserChanges {
            email: self.email.filter(|e| !e.is_empty()),
            password: self.password,
            email_confirm: self.email_confirm,
            role: self.role.filter(|r| !r.is_empty()),
            user_metadata: self.user_metadata,
            app_metadata: self.app_metadata,
        })
    }
}

/// `POST /admin/users`: `auth.admin.createUser`.
async fn create_user(
    Current(app): Current,
    credentials: Credentials,
    body: axum::body::Bytes,
) -> AuthResult {
    require_service(&app, &credentials).await?;
    let changes = parse::<AdminUserBody>(&body)?.changes()?;
    let user = app.services.auth.admin_create_user(changes).await?;
    tracing::info!(user = %user.id, "user created by the service role");
    Ok(Json(user.to_json()).into_response())
}

/// `GET /admin/users/{id}`: `auth.admin.getUserById`.
async fn get_user(
    Current(app): Current,
    credentials: Credentials,
    Path(id): Path<String>,
) -> AuthResult {
    require_service(&app, &credentials).await?;
    let user = app.services.auth.user(&id).await?;
    Ok(Json(user.to_json()).into_response())
}

/// `PUT /admin/users/{id}`: `auth.admin.updateUserById`.
async fn update_user(
    Current(app): Current,
    credentials: Credentials,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> AuthResult {
    require_service(&app, &credentials).await?;
    let changes = parse::<AdminUserBody>(&body)?.changes()?;
    let user = app.services.auth.admin_update_user(&id, changes).await?;
    Ok(Json(user.to_json()).into_response())
}

#[derive(Deserialize, Default)]
struct DeleteBody {
    #[serde(default)]
    should_soft_delete: bool,
}

/// `DELETE /admin/users/{id}`: `auth.admin.deleteUser`; ends every session of the user.
async fn delete_user(
    Current(app): Current,
    credentials: Credentials,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> AuthResult {
    require_service(&app, &credentials).await?;
    let request = if body.is_empty() {
        DeleteBody::default()
    } else {
        parse::<DeleteBody>(&body)?
    };
    if request.should_soft_delete {
        return Err(AuthFailure(AuthError::Invalid(
            "soft deletion (`should_soft_delete`) is not offered by nimbus; delete the user".into(),
        )));
    }
    app.services.auth.delete_user(&id).await?;
    tracing::info!(user = %id, "user deleted by the service role");
    Ok(Json(serde_json::json!({})).into_response())
}

/// The user `email` names, made (unconfirmed, with `password` or a random one) when there is
/// none; with `must_be_new`, an existing user is an error.
async fn user_for_link(
    auth: &AuthService,
    email: &str,
    password: Option<String>,
    data: Option<serde_json::Map<String, serde_json::Value>>,
    must_be_new: bool,
) -> Result<User, AuthFailure> {
    match auth.user_by_email(email).await {
        Ok(_) if must_be_new => Err(AuthFailure(AuthError::EmailTaken)),
        Ok(user) => Ok(user),
        Err(AuthError::UserNotFound) => {
            let changes = AdminUserChanges {
                email: Some(email.to_string()),
                password,
                user_metadata: data,
                ..AdminUserChanges::default()
            };
            Ok(auth.admin_create_user(changes).await?)
        }
        Err(other) => Err(AuthFailure(other)),
    }
}

#[derive(Deserialize)]
struct InviteBody {
    email: Option<String>,
    data: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `POST /invite`: `auth.admin.inviteUserByEmail`, a new user and an invitation mail.
pub(super) async fn invite(
    State(host): State<Arc<Host>>,
    Current(app): Current,
    credentials: Credentials,
    Query(query): Query<super::auth_email_api::RedirectQuery>,
    body: axum::body::Bytes,
) -> AuthResult {
    require_service(&app, &credentials).await?;
    let request: InviteBody = parse(&body)?;
    let email = nimbus_auth::normalize_email(request.email.as_deref().unwrap_or_default())?;
    let redirect_to = super::auth_email_api::allowed_redirect(&app, query.redirect_to)?;
    let auth = &app.services.auth;
    let user = user_for_link(auth, &email, None, request.data, true).await?;
    let issued = auth
        .issue_link(LinkKind::Invite, &user, &email, redirect_to, None)
        .await?;
    super::auth_email_api::send_link(&host, &app, &issued).await?;
    Ok(Json(user.to_json()).into_response())
}

#[derive(Deserialize)]
struct GenerateLinkBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    email: Option<String>,
    password: Option<String>,
    data: Option<serde_json::Map<String, serde_json::Value>>,
    new_email: Option<String>,
    redirect_to: Option<String>,
}

/// `POST /admin/generate_link`: `auth.admin.generateLink`, the link and code of a flow
/// without sending a mail, for an app that sends its own: the user, with `action_link`,
/// `email_otp`, `hashed_token`, `redirect_to` and `verification_type` beside its fields.
async fn generate_link(
    State(host): State<Arc<Host>>,
    Current(app): Current,
    credentials: Credentials,
    body: axum::body::Bytes,
) -> AuthResult {
    require_service(&app, &credentials).await?;
    let request: GenerateLinkBody = parse(&body)?;
    let email = nimbus_auth::normalize_email(request.email.as_deref().unwrap_or_default())?;
    let redirect_to = super::auth_email_api::allowed_redirect(&app, request.redirect_to)?;
    let auth = &app.services.auth;
    let (kind, user, to) = match request.kind.as_deref().unwrap_or_default() {
        "signup" => {
            let password = request.password.ok_or_else(|| {
                AuthFailure(AuthError::Invalid("a signup link needs a password".into()))
            })?;
            let user = user_for_link(auth, &email, Some(password), request.data, true).await?;
            (LinkKind::Signup, user, email)
        }
        "invite" => {
            let user = user_for_link(auth, &email, None, request.data, true).await?;
            (LinkKind::Invite, user, email)
        }
        "magiclink" => {
            let user = user_for_link(auth, &email, None, request.data, false).await?;
            (LinkKind::Magiclink, user, email)
        }
        "recovery" => (LinkKind::Recovery, auth.user_by_email(&email).await?, email),
        // nimbus confirms an email change at the new address only, so both kinds give the
        // link that goes there.
        "email_change_current" | "email_change_new" => {
            let new_email = request.new_email.ok_or_else(|| {
                AuthFailure(AuthError::Invalid(
                    "an email change link needs new_email".into(),
                ))
            })?;
            let current = auth.user_by_email(&email).await?;
            let user = auth.request_email_change(&current.id, &new_email).await?;
            let to = user.email_change.clone().unwrap_or(new_email);
            (LinkKind::EmailChange, user, to)
        }
        other => {
            return Err(AuthFailure(AuthError::Invalid(format!(
                "link type `{other}` is not signup, invite, magiclink, recovery, email_change_current or email_change_new"
            ))));
        }
    };
    let issued = auth.issue_link(kind, &user, &to, redirect_to, None).await?;
    let mut answer = user.to_json();
    answer["action_link"] = crate::auth_mail::verify_url(&host.public_url(), &issued).into();
    answer["email_otp"] = issued.code.clone().into();
    answer["hashed_token"] = issued.token_hash.clone().into();
    answer["verification_type"] = kind.as_str().into();
    answer["redirect_to"] = issued.redirect_to.clone().into();
    Ok(Json(answer).into_response())
}
